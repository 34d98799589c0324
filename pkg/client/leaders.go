package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/abd-ulbasit/goqueue/api"
)

// In a cluster each partition is read and written on the node that leads
// it; any other node answers 421 NOT_LEADER naming the leader and its HTTP
// address (details "leader", "leader_addr"). The client learns leaders
// from the topic's partition info and GET /cluster, and follows NOT_LEADER
// when what it knew is stale. On a single broker partitions have no leader
// and everything goes to the configured brokers, as before clusters.

// maxLeaderHops bounds how often one request follows NOT_LEADER: a
// partition whose leader moves again and again (or nodes that disagree)
// fails the request instead of looping.
const maxLeaderHops = 8

// notLeader is what a NOT_LEADER answer says: the partition it refused
// (-1 if not said), its leader's node ID and HTTP address ("" if the
// leader has not registered one).
type notLeader struct {
	partition int32
	leader    uint64
	addr      string
}

// asNotLeader reports whether err is a NOT_LEADER answer, and what it says.
func asNotLeader(err error) (notLeader, bool) {
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.ErrNotLeader.Code {
		return notLeader{}, false
	}
	nl := notLeader{partition: -1}
	if v, ok := e.Details["partition"].(float64); ok {
		nl.partition = int32(v)
	}
	if v, ok := e.Details["leader"].(float64); ok {
		nl.leader = uint64(v)
	}
	nl.addr, _ = e.Details["leader_addr"].(string)
	return nl, true
}

// baseURL turns a node's registered HTTP address ("host:port") into a base
// URL with the scheme the client was configured with (a cluster's nodes
// serve alike: all TLS or none).
func (t *transport) baseURL(addr string) string {
	if addr == "" || strings.Contains(addr, "://") {
		return strings.TrimRight(addr, "/")
	}
	scheme, _, _ := strings.Cut(t.brokers[0], "://")
	return scheme + "://" + addr
}

// follow is doAt that, answered NOT_LEADER with the leader's address,
// sends the request there instead, and waits out a leader's failover (see
// chase). It returns the base URL that answered last ("" for any broker).
func (t *transport) follow(ctx context.Context, base, method, path, contentType string, body []byte, out any) (string, error) {
	return t.chase(ctx, base, redirects{to: leaderAddr}, method, path, contentType, body, out)
}

// leaderAddr reports whether err is a NOT_LEADER answer, and the leader's
// address it names.
func leaderAddr(err error) (string, bool) {
	nl, ok := asNotLeader(err)
	return nl.addr, ok
}

// placement is what the client knows of a topic's partitions: their count
// and each one's leader as a base URL ("" on a single broker, or while the
// leader or its address is unknown: any broker).
type placement struct {
	partitions int32
	maxMessage int32    // the topic's max_message_bytes; 0: not said
	ids        []uint64 // each partition's leader's node ID; 0: none (a single broker)
	leaders    []string
	// lost: the partitions that can never have a leader again (partition
	// info's lost: PARTITION_LOST); nil when none is.
	lost []bool
	// cluster: the topic is a cluster's, although no leader may be known
	// yet (their elections under way, or the answering node not caught up
	// with the cluster's metadata).
	cluster bool
}

// placement asks a broker for topic's partitions and, in a cluster, their
// leaders' addresses (GET /cluster). A cluster whose status cannot be read
// now (no metadata leader confirms it) yields unknown leaders, not an
// error: requests then go to any node and follow NOT_LEADER.
//
// Whether the topic is a cluster's is known from its partitions' leaders
// or replicas, which a node describes from the topic's creation on —
// unless it is a node still replaying the cluster's metadata after a
// restart, which names neither. Then GET /cluster tells, once per client:
// a cluster node answers it (or refuses it UNAVAILABLE while it cannot
// confirm it), a single broker refuses it NOT_CLUSTERED (an older one,
// NOT_FOUND).
func (t *transport) placement(ctx context.Context, topic string) (placement, error) {
	var info api.Topic
	if err := t.do(ctx, http.MethodGet, "/topics/"+esc(topic), nil, &info); err != nil {
		return placement{}, err
	}
	if info.Partitions <= 0 {
		return placement{}, fmt.Errorf("client: topic %q has %d partitions", topic, info.Partitions)
	}
	pl := placement{partitions: info.Partitions, maxMessage: info.MaxMessageBytes, ids: make([]uint64, info.Partitions), leaders: make([]string, info.Partitions)}
	known := false
	for _, pi := range info.PartitionInfo {
		if pi.Partition >= 0 && pi.Partition < info.Partitions {
			pl.ids[pi.Partition] = pi.Leader
			if pi.Lost {
				if pl.lost == nil {
					pl.lost = make([]bool, info.Partitions)
				}
				pl.lost[pi.Partition] = true
			}
		}
		known = known || pi.Leader != 0
		pl.cluster = pl.cluster || pi.Leader != 0 || len(pi.Replicas) > 0
	}
	if !known {
		if !pl.cluster {
			pl.cluster = t.clustered(ctx)
		}
		return pl, nil
	}
	// The leaders named may be the node given and no other (the others'
	// elections under way, or the node given leading every partition):
	// then, once it died, no node was left to ask. Its replicas name the
	// others.
	var ids []uint64
	for _, pi := range info.PartitionInfo {
		ids = append(ids, pi.Leader)
		ids = append(ids, pi.Replicas...)
	}
	t.meetNodes(ctx, ids...)
	if t.leaderAddrs(&info, &pl) {
		return pl, nil
	}
	addrs, err := t.nodeAddrs(ctx)
	if err != nil {
		return pl, nil // leaders stay unknown: NOT_LEADER answers will name them
	}
	for _, pi := range info.PartitionInfo {
		if pi.Partition >= 0 && pi.Partition < info.Partitions {
			pl.leaders[pi.Partition] = t.baseURL(addrs[pi.Leader])
		}
	}
	return pl, nil
}

// leaderAddrs fills pl's leaders from the addresses info names them by,
// and reports whether it named every one. A node answers them from the
// metadata it applied, where GET /cluster waits for a consistent read:
// while the metadata elects a leader (its leader died, with partitions
// it led) that held every partition's records back for seconds, those
// of partitions whose leaders lived included. Brokers from before
// leader_addr name none: GET /cluster it is.
func (t *transport) leaderAddrs(info *api.Topic, pl *placement) bool {
	addrs := map[uint64]string{}
	for _, pi := range info.PartitionInfo {
		if pi.Leader != 0 {
			if pi.LeaderAddr == "" {
				return false
			}
			addrs[pi.Leader] = pi.LeaderAddr
		}
	}
	for _, pi := range info.PartitionInfo {
		if pi.Partition >= 0 && pi.Partition < info.Partitions && pi.Leader != 0 {
			pl.leaders[pi.Partition] = t.baseURL(pi.LeaderAddr)
		}
	}
	t.learnNodes(addrs)
	return true
}

// clustered reports whether the brokers are a cluster's nodes, asking GET
// /cluster the first time (see placement); false while it cannot tell.
func (t *transport) clustered(ctx context.Context) bool {
	switch t.brokerKind.Load() {
	case kindSingle:
		return false
	case kindCluster:
		return true
	}
	_, err := t.nodeAddrs(ctx)
	var e *api.Error
	switch {
	case err == nil || isCode(err, api.ErrUnavailable):
		t.brokerKind.Store(kindCluster)
		return true
	case errors.As(err, &e):
		t.brokerKind.Store(kindSingle) // NOT_CLUSTERED, or a broker from before clusters
	}
	return false
}

// nodeAddrs is each cluster node's registered HTTP address, by node ID
// (GET /cluster).
func (t *transport) nodeAddrs(ctx context.Context) (map[uint64]string, error) {
	var st api.ClusterStatus
	if err := t.do(ctx, http.MethodGet, "/cluster", nil, &st); err != nil {
		return nil, err
	}
	addrs := make(map[uint64]string, len(st.Nodes))
	for _, n := range st.Nodes {
		addrs[n.ID] = n.HTTPAddr
	}
	t.learnNodes(addrs)
	return addrs, nil
}

// leadersView replaces, in a cluster, the info of each partition of topics
// (as one node described them) with what the partition's leader says of
// it: the other nodes hold empty copies, whose offsets say nothing of the
// partition's messages. name is the one topic described, or "" for the
// whole list. A leader that cannot be asked leaves the answering node's
// info (a partition whose leader is down is unavailable anyway); on a
// single broker nothing is asked.
func (t *transport) leadersView(ctx context.Context, topics []api.Topic, name string) {
	need := map[uint64]bool{}
	for _, tp := range topics {
		for _, pi := range tp.PartitionInfo {
			if pi.Leader != 0 {
				need[pi.Leader] = true
			}
		}
	}
	if len(need) == 0 {
		return
	}
	addrs, err := t.nodeAddrs(ctx)
	if err != nil {
		return
	}
	for id := range need {
		base := t.baseURL(addrs[id])
		if base == "" {
			continue
		}
		var theirs []api.Topic
		if name != "" {
			var one api.Topic
			err = t.doAt(ctx, base, http.MethodGet, "/topics/"+esc(name), "", nil, &one)
			theirs = []api.Topic{one}
		} else {
			var l api.TopicList
			err = t.doAt(ctx, base, http.MethodGet, "/topics", "", nil, &l)
			theirs = l.Topics
		}
		if err != nil {
			continue
		}
		byName := make(map[string]*api.Topic, len(theirs))
		for i := range theirs {
			byName[theirs[i].Name] = &theirs[i]
		}
		for i := range topics {
			lt := byName[topics[i].Name]
			if lt == nil {
				continue
			}
			for j, pi := range topics[i].PartitionInfo {
				if pi.Leader == id && j < len(lt.PartitionInfo) && lt.PartitionInfo[j].Partition == pi.Partition {
					topics[i].PartitionInfo[j] = lt.PartitionInfo[j]
				}
			}
		}
	}
}
