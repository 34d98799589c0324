package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/replica"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// Every partition of a cluster topic is a Raft group over its replicas
// (meta places them and names the group). A node hosts the groups of the
// partitions it is a replica of in the same multiraft Host as the metadata
// group: one Raft loop, one transport connection per node pair and one
// fsync pass cover them all, and quiet groups cost little. The reconciler
// starts a group once the local topic exists (and again on every start:
// AddGroup reopens its store), with a replica.Partition over the local
// log as its state machine.
//
// Leaders: the preferred replica (the first of placement) campaigns when
// it starts the group, and a leader that is not the preferred replica hands
// leadership back once the preferred one is alive again, so leaders spread
// as placement intends. Every replica knows its groups' leaders and terms
// from Raft; a node that holds no replica of a partition names its
// preferred replica, which redirects with the real leader if it has to
// (a NOT_LEADER answer is always safe to follow).

// PartitionLogs gives the local log of a partition this node replicates.
type PartitionLogs interface {
	PartitionLog(topic string, partition int32) (replica.Log, error)
}

// hosted is a partition group this node runs.
type hosted struct {
	topic     string
	partition int32
	replicas  []uint64
	log       replica.Log
	sm        *replica.Partition // its state machine: Close stops a catch-up
	// ledSince is when this node last became the group's leader, for
	// handing leadership back to the preferred replica (watchPartitions).
	ledSince     time.Time
	lastTransfer time.Time
	lastCampaign time.Time
}

// startPartitions starts the groups of the partitions of tp this node is
// a replica of and does not run yet. One that fails does not keep the
// others from starting (the errors are joined; the caller retries).
func (n *Node) startPartitions(ctx context.Context, tp meta.Topic) error {
	if n.cfg.Logs == nil {
		return nil
	}
	var errs []error
	for _, p := range tp.Partitions {
		if !slices.Contains(p.Replicas, n.cfg.ID) {
			continue
		}
		n.pmu.Lock()
		_, running := n.parts[p.Group]
		n.pmu.Unlock()
		if running {
			continue
		}
		log, err := n.cfg.Logs.PartitionLog(tp.Name, p.Index)
		if err != nil {
			errs = append(errs, fmt.Errorf("partition %s/%d: %w", tp.Name, p.Index, err))
			continue
		}
		sm := replica.New(log, n.cfg.ID, p.Replicas, n.fetcher(p.Group))
		// The group's first voters are its replicas at their generations
		// when it was placed; a replica of a later generation (this node
		// lost its disk since) joins, and the group's leader adds it
		// (identity.go).
		if err := n.raft.AddReplica(ctx, p.Group, n.self(), n.bootVoters(p.Replicas, p.Gens), sm); err != nil {
			sm.Close()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, fmt.Errorf("partition %s/%d (group %d): %w", tp.Name, p.Index, p.Group, err))
			continue
		}
		n.pmu.Lock()
		n.parts[p.Group] = &hosted{topic: tp.Name, partition: p.Index, replicas: slices.Clone(p.Replicas), log: log, sm: sm}
		n.pmu.Unlock()
		if ctx.Err() != nil {
			// Shutting down: watchPartitions may have stopped the
			// catch-ups before this group was listed.
			sm.Close()
			return ctx.Err()
		}
		if p.Replicas[0] == n.cfg.ID && !n.leaving.Load() {
			if err := n.raft.Campaign(ctx, p.Group); err != nil {
				n.log.Warn("cluster: campaigning for a partition failed", "topic", tp.Name, "partition", p.Index, "err", err)
			}
			n.pmu.Lock()
			n.parts[p.Group].lastCampaign = time.Now()
			n.pmu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// ErrNotServing refuses a write of a topic of the cluster this node does
// not serve yet (Serves): its metadata is not confirmed current since it
// started, or its copy is of another incarnation or not made yet. A
// passing state: the caller retries.
var ErrNotServing = errors.New("cluster: this node does not serve the topic yet")

// appendTimeout bounds a partition append: Raft needs a leader and a
// majority within it, else the publish fails UNAVAILABLE (its outcome
// unknown: it may still commit).
const appendTimeout = 15 * time.Second

// AppendPartition proposes batches to the group of partition of topic and
// returns each batch's first offset once a majority has the entry and
// this node applied it. A *multiraft.NotLeaderError names the leader as
// this node knows it; ErrNotServing refuses a topic this node does not
// serve yet; a *LostError a partition that can never have a leader again.
func (n *Node) AppendPartition(ctx context.Context, topic string, partition int32, batches []byte) ([]int64, error) {
	if !n.Serves(topic) {
		return nil, fmt.Errorf("%w: %s", ErrNotServing, topic)
	}
	tp, ok := n.meta.Topic(topic)
	if !ok || partition < 0 || int(partition) >= len(tp.Partitions) {
		return nil, fmt.Errorf("cluster: %s/%d is not in the metadata", topic, partition)
	}
	p := tp.Partitions[partition]
	if err := n.lostError(topic, p); err != nil {
		return nil, err
	}
	n.pmu.Lock()
	_, running := n.parts[p.Group]
	n.pmu.Unlock()
	if !running {
		leader, _ := n.PartitionLeader(p)
		return nil, &multiraft.NotLeaderError{Group: p.Group, Leader: leader}
	}
	ctx, cancel := context.WithTimeout(ctx, appendTimeout)
	defer cancel()
	r, err := n.raft.Propose(ctx, p.Group, batches)
	if err != nil {
		return nil, err
	}
	res, ok := r.Value.(replica.Result)
	if !ok {
		return nil, fmt.Errorf("cluster: group %d answered %T", p.Group, r.Value)
	}
	return res.Bases, res.Err
}

// ReadPartition waits until this node's copy of partition of topic
// reflects every write acknowledged before the call (a Raft ReadIndex of
// the partition's group; of a replica's, for a partition this node
// mirrors: readMirror), so a read served from it next is not stale: a
// leader just elected has applied its predecessor's entries, and one
// deposed without knowing it (paused, cut off) cannot confirm and is
// refused. Errors: TOPIC_NOT_FOUND or PARTITION_NOT_FOUND (not in the
// metadata as this node applied it, which may be behind: see
// ConfirmAbsent), UNAVAILABLE (no leader confirmed within readTimeout, or
// this copy is still catching up; the caller retries, or asks the leader
// again), or a *LostError for a partition that can never have a leader
// again.
func (n *Node) ReadPartition(ctx context.Context, topic string, partition int32) error {
	tp, ok := n.meta.Topic(topic)
	switch {
	case !ok:
		return api.ErrTopicNotFound.Withf("topic %q is not in the cluster's metadata", topic).WithDetail("topic", topic)
	case partition < 0 || int(partition) >= len(tp.Partitions):
		return api.ErrPartitionNotFound.Withf("topic %q has partitions 0..%d in the cluster's metadata; there is no partition %d", topic, len(tp.Partitions)-1, partition).
			WithDetail("topic", topic).WithDetail("partition", partition).WithDetail("partitions", len(tp.Partitions))
	}
	p := tp.Partitions[partition]
	if err := n.lostError(topic, p); err != nil {
		return err
	}
	if !slices.Contains(p.Replicas, n.cfg.ID) {
		return n.readMirror(ctx, topic, p)
	}
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	group := tp.Partitions[partition].Group
	if err := n.raft.ReadIndex(rctx, group); err != nil {
		return api.ErrUnavailable.Withf("no leader of %s/%d confirmed the read (%v); retry", topic, partition, err).
			WithDetail("partition", partition).WithDetail("node_id", n.cfg.ID)
	}
	n.pmu.Lock()
	h := n.parts[group]
	n.pmu.Unlock()
	if h != nil && h.sm.CatchingUp() {
		// Applied up to the read point, but the entries applied since
		// its snapshot wait for the bytes below it.
		return api.ErrUnavailable.Withf("this node's copy of %s/%d is still catching up; retry", topic, partition).
			WithDetail("partition", partition).WithDetail("node_id", n.cfg.ID)
	}
	return nil
}

// appendRequest asks a partition's leader to append batches.
type appendRequest struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Batches   []byte `json:"batches"`
}

// AppendVia appends batches to partition of topic through its leader,
// wherever it is: here if this node leads it, else forwarded over the
// transport. It is for writes this node makes on its own behalf (a dead
// letter its group coordinator keeps), with no client to follow a
// NOT_LEADER answer: it follows the leader itself, and waits while there
// is none or this node does not serve the topic yet, until ctx ends.
// Errors are AppendPartition's, and ctx's. An error whose outcome is
// unknown (the entry may still commit; or the leader had it but its
// answer did not come: ErrPeerNoAnswer) is returned, not retried.
func (n *Node) AppendVia(ctx context.Context, topic string, partition int32, batches []byte) ([]int64, error) {
	target, redirects := n.cfg.ID, 0
	for {
		var bases []int64
		var err error
		if target == n.cfg.ID {
			bases, err = n.AppendPartition(ctx, topic, partition, batches)
		} else {
			bases, err = n.appendAt(ctx, target, appendRequest{Topic: topic, Partition: partition, Batches: batches})
		}
		var nl *multiraft.NotLeaderError
		switch {
		case err == nil:
			return bases, nil
		case errors.As(err, &nl) && nl.Leader != 0:
			target = nl.Leader
			// At once, the leader being known; but during an election two
			// nodes may name each other, so only once in a row.
			if redirects++; target != n.cfg.ID && redirects == 1 {
				continue
			}
		case errors.As(err, &nl), errors.Is(err, ErrNotServing), errors.Is(err, multiraft.ErrDropped), errors.Is(err, errUnreached):
			target = n.cfg.ID // ask again who leads
		default:
			return nil, err
		}
		redirects = 0
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(retryEvery):
		}
	}
}

// errUnreached: a forwarded append's node could not be asked (nothing
// was written).
var errUnreached = errors.New("cluster: the partition's leader could not be reached")

// appendAt asks node to append req, answering as AppendPartition would.
// A call whose answer did not come is an error wrapping ErrPeerNoAnswer,
// never errUnreached: node had the append and may have applied it, so
// appending it again could write it twice.
func (n *Node) appendAt(ctx context.Context, node uint64, req appendRequest) ([]int64, error) {
	b, err := json.Marshal(request{Append: &req})
	if err != nil {
		return nil, err
	}
	raw, err := n.tr.Call(ctx, node, b)
	switch {
	case errors.Is(err, ErrPeerNoAnswer):
		return nil, fmt.Errorf("cluster: node %d had the append of %s/%d but did not answer: it may have been applied: %w", node, req.Topic, req.Partition, err)
	case err != nil:
		return nil, fmt.Errorf("%w: node %d: %w", errUnreached, node, err)
	}
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("cluster: answer of node %d: %w", node, err)
	}
	switch {
	case a.Retry != "":
		return nil, &multiraft.NotLeaderError{Leader: a.Leader}
	case a.Refused != "":
		return nil, fmt.Errorf("cluster: node %d: %s", node, a.Refused)
	}
	return a.Bases, nil
}

// serveAppend appends a forwarded request if this node leads its
// partition; Retry (naming the leader if known) when nothing was written.
func (n *Node) serveAppend(ctx context.Context, req appendRequest) answer {
	ctx, cancel := context.WithTimeout(ctx, appendTimeout)
	defer cancel()
	bases, err := n.AppendPartition(ctx, req.Topic, req.Partition, req.Batches)
	var nl *multiraft.NotLeaderError
	switch {
	case err == nil:
		return answer{Bases: bases}
	case errors.As(err, &nl):
		return answer{Retry: err.Error(), Leader: nl.Leader}
	case errors.Is(err, ErrNotServing), errors.Is(err, multiraft.ErrDropped):
		return answer{Retry: err.Error()}
	}
	return answer{Refused: err.Error()}
}

// PartitionLeader is p's leader and its epoch (the Raft term) as this node
// knows them (see PartitionView).
func (n *Node) PartitionLeader(p meta.Partition) (leader, epoch uint64) {
	leader, epoch, _ = n.PartitionView(p)
	return leader, epoch
}

// transferAfter is how long a leader that is not the preferred replica
// leads before handing leadership back (the preferred one may have just
// restarted and be catching up); transferEvery spaces the attempts.
// campaignEvery spaces a leaderless preferred replica's campaigns.
const (
	transferAfter = 5 * time.Second
	transferEvery = 10 * time.Second
	campaignEvery = 500 * time.Millisecond
)

// watchPartitions refreshes the leaders of the hosted groups every tick
// and hands leadership to preferred replicas that are alive again. When
// ctx ends it stops the groups' catch-ups (replica.Partition.Close), so
// none outlives the node.
func (n *Node) watchPartitions(ctx context.Context) {
	defer func() {
		n.pmu.Lock()
		var sms []*replica.Partition
		for _, h := range n.parts {
			sms = append(sms, h.sm)
		}
		n.pmu.Unlock()
		for _, sm := range sms {
			sm.Close()
		}
	}()
	n.everyTick(ctx, func() {
		sts, err := n.raft.Statuses(ctx)
		if err != nil {
			return
		}
		down := n.downPeers()
		now := time.Now()
		var transfers [][2]uint64
		var campaigns []uint64
		n.pmu.Lock()
		old := n.leaders
		n.leaders = sts
		for g, h := range n.parts {
			st := sts[g]
			if st.Leader != old[g].Leader && st.Leader != 0 {
				n.log.Info("partition leader changed", "topic", h.topic, "partition", h.partition, "leader", st.Leader, "epoch", st.Term)
			}
			if standIn(h.replicas, n.cfg.ID, down) && st.Leader == 0 && !n.leaving.Load() && now.Sub(h.lastCampaign) >= campaignEvery {
				// A first campaign is lost when it reaches the other
				// replicas before they start the group; try again rather
				// than wait out a whole election timeout.
				h.lastCampaign = now
				campaigns = append(campaigns, g)
			}
			switch {
			case !st.IsLeader:
				h.ledSince = time.Time{}
			case h.ledSince.IsZero():
				h.ledSince = now
			case h.replicas[0] != n.cfg.ID && !down[h.replicas[0]] &&
				now.Sub(h.ledSince) >= transferAfter && now.Sub(h.lastTransfer) >= transferEvery:
				h.lastTransfer = now
				transfers = append(transfers, [2]uint64{g, h.replicas[0]})
			case h.sm.CatchingUp() && now.Sub(h.lastTransfer) >= transferEvery:
				// A leader still completing its copy below a snapshot
				// can neither answer writes with their offsets nor serve
				// reads: hand the group to a replica that is whole.
				if to := firstAlive(h.replicas, n.cfg.ID, down); to != 0 {
					h.lastTransfer = now
					transfers = append(transfers, [2]uint64{g, to})
				}
			}
		}
		n.pmu.Unlock()
		for _, g := range campaigns {
			_ = n.raft.Campaign(ctx, g) // only fails for a group not hosted
		}
		for _, t := range transfers {
			if err := n.raft.TransferLeader(ctx, t[0], t[1]); err == nil {
				n.log.Info("cluster: handing a partition's leadership to its preferred replica", "group", t[0], "to", t[1])
			}
		}
	})
}

// standIn reports whether self campaigns for a leaderless group of
// replicas: it is the preferred replica (the first), or the first not
// known down when the preferred one is. A topic created while a node is
// down then has leaders at once, not after an election timeout for each
// partition that node was to lead (2.4–3.6 s for a create of three
// partitions with one of three nodes down, stop 43). A campaign against a
// leader this node has not heard of yet is harmless: PreVote loses it.
func standIn(replicas []uint64, self uint64, down map[uint64]bool) bool {
	return replicas[0] == self || down[replicas[0]] && firstAlive(replicas, 0, down) == self
}

// firstAlive is the first of replicas other than self not known down, 0 if
// none.
func firstAlive(replicas []uint64, self uint64, down map[uint64]bool) uint64 {
	for _, r := range replicas {
		if r != self && !down[r] {
			return r
		}
	}
	return 0
}

// fetchRequest asks a node for the stored batches of a group's log from
// From on: a replica catching up to a snapshot (replica.Fetch).
type fetchRequest struct {
	Group uint64 `json:"group"`
	From  int64  `json:"from"`
}

// fetchBytes bounds one catch-up answer.
const fetchBytes = 1 << 20

// fetcher is group's replica.Fetch: a transport call to the node.
func (n *Node) fetcher(group uint64) replica.Fetch {
	return func(ctx context.Context, node uint64, from int64) ([]byte, error) {
		req, err := json.Marshal(request{Fetch: &fetchRequest{Group: group, From: from}})
		if err != nil {
			return nil, err
		}
		raw, err := n.tr.Call(ctx, node, req)
		if err != nil {
			return nil, err
		}
		var a answer
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, err
		}
		switch {
		case a.Start > from:
			return nil, &replica.StartError{Start: a.Start}
		case a.Refused != "":
			return nil, errors.New(a.Refused)
		}
		return a.Batches, nil
	}
}

// serveFetchMax answers a fetchRequest from this node's log of the group,
// about maxBytes of batches (at least one, if any).
func (n *Node) serveFetchMax(f fetchRequest, maxBytes int) answer {
	n.pmu.Lock()
	h, ok := n.parts[f.Group]
	n.pmu.Unlock()
	if !ok {
		return answer{Refused: fmt.Sprintf("node %d holds no replica of group %d", n.cfg.ID, f.Group)}
	}
	b, err := h.log.ReadBatches(f.From, maxBytes)
	var re *commitlog.RangeError
	switch {
	case errors.As(err, &re) && f.From < re.Earliest:
		return answer{Refused: err.Error(), Start: re.Earliest}
	case err != nil:
		return answer{Refused: err.Error()}
	}
	return answer{Batches: b}
}
