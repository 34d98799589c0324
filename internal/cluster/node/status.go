package node

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

// readTimeout bounds the wait for a read point: without a leader, raft
// drops a read silently; the caller gets UNAVAILABLE and retries.
const readTimeout = 5 * time.Second

// liveWindow is how long a peer may go unheard before Listed leaves it
// out. It is longer than the transport's DownAfter (2 s), which wakes
// quiet Raft groups, where a false alarm costs a heartbeat: a node left
// out of clients' view has its connections closed by some clients and its
// partitions shown leaderless, which a busy machine's pause must not
// cause. Kafka drops a broker that misses its session, 9 s by default.
const liveWindow = 6 * time.Second

// Listed reports whether this node names node id to clients as a live
// broker (the Kafka listener's Metadata): itself, a peer heard from within
// liveWindow, or any node while this one hears from no majority of the
// cluster — most likely it is the one cut off, and naming itself alone
// would have clients forget the healthy majority.
func (n *Node) Listed(id uint64) bool {
	return listed(id, n.cfg.ID, len(n.cfg.Peers), n.tr.Silent(liveWindow))
}

// listed is Listed's rule for a cluster of nodes nodes (self included) in
// which self has not heard from silent.
func listed(id, self uint64, nodes int, silent []uint64) bool {
	if id == self || !slices.Contains(silent, id) {
		return true
	}
	heard := nodes - len(silent) // self included
	return heard < nodes/2+1
}

// Status returns the cluster as this node sees it, with metadata at least
// as new as every write acknowledged before the call (a ReadIndex read,
// confirmed by the leader with a quorum). Its error is always an
// *api.Error: UNAVAILABLE (retriable) without a read point, saying why
// (readPoint).
func (n *Node) Status(ctx context.Context) (api.ClusterStatus, error) {
	if err := n.readPoint(ctx); err != nil {
		return api.ClusterStatus{}, err
	}
	st, err := n.raft.Status(ctx, meta.GroupID)
	if err != nil {
		return api.ClusterStatus{}, n.unavailable(ctx, err)
	}
	out := api.ClusterStatus{NodeID: n.cfg.ID, MetaLeader: st.Leader, MetaTerm: st.Term, Nodes: []api.ClusterNode{}, Topics: []api.ClusterTopic{}}
	down := n.downPeers()
	registered := map[uint64]meta.Node{}
	for _, m := range n.meta.Nodes() {
		registered[m.ID] = m
	}
	for _, id := range slices.Sorted(maps.Keys(n.cfg.Peers)) {
		m, ok := registered[id]
		out.Nodes = append(out.Nodes, api.ClusterNode{
			ID: id, ClusterAddr: n.cfg.Peers[id], HTTPAddr: m.HTTPAddr,
			Registered: ok, Incarnation: m.Incarnation, Alive: id == n.cfg.ID || !down[id],
		})
	}
	for _, t := range n.meta.Topics() {
		ct := api.ClusterTopic{Name: t.Name, ID: t.ID.String(), ReplicationFactor: t.ReplicationFactor}
		for _, p := range t.Partitions {
			cp := api.ClusterPartition{Partition: p.Index, Group: p.Group, Replicas: p.Replicas}
			cp.Leader, cp.LeaderEpoch, cp.ISR = n.PartitionView(p)
			cp.LostReplicas = n.meta.Lost(p)
			cp.Lost = cp.LostReplicas != nil
			ct.Partitions = append(ct.Partitions, cp)
		}
		out.Topics = append(out.Topics, ct)
	}
	slices.SortFunc(out.Topics, func(a, b api.ClusterTopic) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// RaftCounts counts the Raft groups this node hosts, leads and has
// quiesced (for metrics).
func (n *Node) RaftCounts(ctx context.Context) (multiraft.Counts, error) {
	return n.raft.Counts(ctx)
}

// PeersUp reports, for every other node, whether it was heard from within
// the failure detector's window (the transport's DownAfter).
func (n *Node) PeersUp() map[uint64]bool {
	up := make(map[uint64]bool, len(n.cfg.Peers))
	for id := range n.cfg.Peers {
		if id != n.cfg.ID {
			up[id] = true
		}
	}
	for _, id := range n.tr.Down() {
		up[id] = false
	}
	return up
}

// ConfirmAbsent answers, for a topic (partition < 0) or a partition of it
// that this node's broker does not hold, whether the cluster's metadata
// confirms it does not exist: nil after a consistent read of the metadata
// without it; UNAVAILABLE when no leader confirms the read (this node may
// have just started, even on an empty disk, and know no topic yet) or
// when the metadata has it and this node has not created it yet (a topic
// just created, partitions just added). A node that answered "not found"
// from what it happened to hold sent clients away for good — a client
// redirected to a restarted node's address gave up on its topic.
func (n *Node) ConfirmAbsent(ctx context.Context, topic string, partition int32) error {
	if err := n.readPoint(ctx); err != nil {
		return err
	}
	t, ok := n.meta.Topic(topic)
	switch {
	case !ok:
		return nil
	case partition < 0:
		return api.ErrUnavailable.Withf("topic %s exists in the cluster; node %d has not created it yet; retry", topic, n.cfg.ID).
			WithDetail("topic", topic).WithDetail("node_id", n.cfg.ID)
	case int(partition) < len(t.Partitions):
		return api.ErrUnavailable.Withf("partition %d of topic %s exists in the cluster; node %d has not created it yet; retry", partition, topic, n.cfg.ID).
			WithDetail("topic", topic).WithDetail("partition", partition).WithDetail("node_id", n.cfg.ID)
	}
	return nil
}
