package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/metrics"
)

// Cluster is the cluster member of a broker started with --node-id and
// --peers (internal/cluster/node, bridged in cmd/goqueue).
type Cluster interface {
	// Status reads the cluster's metadata consistently; an *api.Error
	// (UNAVAILABLE) when no metadata leader can confirm the read.
	Status(ctx context.Context) (api.ClusterStatus, error)
	// CreateTopic creates the topic through the metadata group and
	// returns once this broker has created it locally; errors are
	// *api.Error.
	CreateTopic(ctx context.Context, req api.CreateTopicRequest) error
	// DeleteTopic deletes a topic of the metadata on every node and
	// returns once this broker no longer has it; AlterTopic grows it
	// (req.Partitions, 0: as it is) and changes its settings on every
	// node and returns once this broker has the change. Errors are
	// *api.Error (TOPIC_NOT_FOUND, INVALID_PARTITIONS, UNAVAILABLE).
	DeleteTopic(ctx context.Context, name string) error
	AlterTopic(ctx context.Context, name string, req api.AlterTopicRequest) error
	// Placement is topic's partitions (replicas, leader) as this node
	// last applied the metadata; false for a topic the metadata does not
	// hold (one local to this broker, such as a DLQ).
	Placement(topic string) ([]api.ClusterPartition, bool)
	// ReadPartition waits until this node's copy of a partition it leads
	// reflects every write acknowledged before the call, so a read of it
	// is not stale; errors are *api.Error (UNAVAILABLE: retry).
	ReadPartition(ctx context.Context, topic string, partition int32) error
	// ConfirmAbsent confirms with the metadata that a topic (partition
	// < 0) or a partition of it that this broker does not hold does not
	// exist in the cluster either: nil, or *api.Error UNAVAILABLE when it
	// cannot confirm (retry).
	ConfirmAbsent(ctx context.Context, topic string, partition int32) error
	// TopicsCurrent waits until this broker holds every topic of the
	// cluster committed before the call; *api.Error UNAVAILABLE when it
	// cannot say so within a bound of its own or before ctx ends (retry).
	TopicsCurrent(ctx context.Context) error
	// Ready is nil once this node serves as a member of the cluster (a
	// metadata leader it reaches, the metadata applied), else *api.Error
	// UNAVAILABLE saying why (for /readyz). It answers quickly.
	Ready(ctx context.Context) error
	// ClusterStats is the node's replication for /metrics.
	metrics.ClusterSource
	// ID is this node's ID; HTTPAddr the HTTP address node id registered;
	// Listed whether this node counts node id alive (as the Kafka
	// listener's Metadata does).
	ID() uint64
	HTTPAddr(id uint64) string
	Listed(id uint64) bool
	// Offline is the replicas of a partition that this node counts down
	// when too few of its replicas are alive for it to elect a leader;
	// nil while a majority is alive.
	Offline(replicas []uint64) []uint64
}

// cluster answers GET /cluster: nodes, their liveness as this node sees
// it, the metadata leader, and each partition's replicas and leader (of
// the topics the caller's key may see).
func (s *Server) cluster(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Cluster == nil {
		return api.ErrNotClustered.Withf("this broker runs alone: start it with --node-id and --peers to form a cluster")
	}
	st, err := s.opts.Cluster.Status(r.Context())
	if err != nil {
		return err
	}
	// A scoped key sees only its topics, as in GET /topics.
	topics := st.Topics[:0]
	for _, t := range st.Topics {
		if visible(r, kindTopic, t.Name) {
			topics = append(topics, t)
		}
	}
	st.Topics = topics
	writeJSON(w, http.StatusOK, st)
	return nil
}

// placement is topic's partitions in the cluster's metadata; false on a
// single broker or for a local topic, where every partition is this
// broker's.
func (s *Server) placement(topic string) ([]api.ClusterPartition, bool) {
	if s.opts.Cluster == nil {
		return nil, false
	}
	return s.opts.Cluster.Placement(topic)
}

// withPlacement adds each partition's leader and replicas to t.
func (s *Server) withPlacement(t api.Topic) api.Topic {
	parts, ok := s.placement(t.Name)
	if !ok {
		return t
	}
	for i := range t.PartitionInfo {
		if p := t.PartitionInfo[i].Partition; int(p) < len(parts) {
			t.PartitionInfo[i].Leader = parts[p].Leader
			if parts[p].Leader != 0 {
				t.PartitionInfo[i].LeaderAddr = s.opts.Cluster.HTTPAddr(parts[p].Leader)
			}
			t.PartitionInfo[i].Replicas = parts[p].Replicas
			t.PartitionInfo[i].LeaderEpoch = parts[p].LeaderEpoch
			t.PartitionInfo[i].ISR = parts[p].ISR
			t.PartitionInfo[i].Lost, t.PartitionInfo[i].LostReplicas = parts[p].Lost, parts[p].LostReplicas
		}
	}
	return t
}

// notLeader is the answer for a partition another node leads: its leader
// and where to reach it, so the client can go there.
func (s *Server) notLeader(topic string, p api.ClusterPartition) *api.Error {
	if p.Lost {
		return PartitionLost(topic, p.Partition, p.Replicas, p.LostReplicas)
	}
	if p.Leader == 0 {
		return NoLeader(topic, p.Partition, p.Replicas, s.opts.Cluster.Offline(p.Replicas))
	}
	if !s.opts.Cluster.Listed(p.Leader) {
		// Sent there, the client would meet a dead node (and Kafka's
		// Metadata already says LEADER_NOT_AVAILABLE).
		return api.ErrUnavailable.Withf("partition %s/%d's leader, node %d, is down; a replica elsewhere takes over within seconds, if it has one: retry", topic, p.Partition, p.Leader).
			WithDetail("partition", p.Partition).WithDetail("leader", p.Leader)
	}
	e := api.ErrNotLeader.Withf("node %d does not lead %s/%d; its leader is node %d", s.opts.Cluster.ID(), topic, p.Partition, p.Leader).
		WithDetail("partition", p.Partition).WithDetail("leader", p.Leader)
	if addr := s.opts.Cluster.HTTPAddr(p.Leader); addr != "" {
		e = e.WithDetail("leader_addr", addr)
	}
	return e
}

// NoLeader is the answer for a partition of topic with no leader: its
// replicas down (offline: too few alive to elect one, see
// Cluster.Offline), or, with none offline, an election under way. Both
// are passing states for a client, so UNAVAILABLE (retriable); the
// first names the nodes it waits for.
func NoLeader(topic string, partition int32, replicas, offline []uint64) *api.Error {
	if len(offline) == 0 {
		return api.ErrUnavailable.Withf("partition %s/%d has no leader yet (an election is under way); retry", topic, partition).
			WithDetail("partition", partition)
	}
	return api.ErrUnavailable.Withf("partition %s/%d has no leader: its replicas are down (%s), and electing one needs %d of its %d replicas alive; retry once they are back",
		topic, partition, nodeList(offline), len(replicas)/2+1, len(replicas)).
		WithDetail("partition", partition).WithDetail("offline_replicas", offline)
}

// PartitionLost is the answer for a partition of topic that can never
// have a leader again (ClusterPartition.Lost): lost of its replicas were
// on disks that are gone. PARTITION_LOST, not retriable: it says whether
// any copy of the messages survives, and what mends it.
func PartitionLost(topic string, partition int32, replicas, lost []uint64) *api.Error {
	survivors := slices.DeleteFunc(slices.Clone(replicas), func(id uint64) bool { return slices.Contains(lost, id) })
	gone := fmt.Sprintf("its replica on %s was on a disk that is gone (the node restarted with an empty data directory)", nodeList(lost))
	if len(lost) > 1 {
		gone = fmt.Sprintf("its replicas on %s were on disks that are gone (the nodes restarted with an empty data directory)", nodeList(lost))
	}
	var e *api.Error
	if len(survivors) == 0 {
		e = api.ErrPartitionLost.Withf("partition %s/%d is lost: %s; no retry brings it back: delete the topic and create it again",
			topic, partition, gone)
	} else {
		e = api.ErrPartitionLost.Withf("partition %s/%d can never have a leader again: %s, and electing one needs %d of its %d replicas; the copy on %s survives but cannot be served; no retry mends it: delete the topic and create it again",
			topic, partition, gone, len(replicas)/2+1, len(replicas), nodeList(survivors)).WithDetail("surviving_replicas", survivors)
	}
	return e.WithDetail("partition", partition).WithDetail("replicas", replicas).WithDetail("lost_replicas", lost)
}

// nodeList names nodes ids for people: "node 1, node 3".
func nodeList(ids []uint64) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = fmt.Sprintf("node %d", id)
	}
	return strings.Join(names, ", ")
}

// checkLeader refuses a read or write of partition p of topic that another
// node leads (its local log here stays empty).
func (s *Server) checkLeader(topic string, p int32) error {
	parts, ok := s.placement(topic)
	if !ok || p < 0 || int(p) >= len(parts) || parts[p].Leader == s.opts.Cluster.ID() {
		return nil
	}
	return s.notLeader(topic, parts[p])
}

// readPoint makes a read of partition p of topic, a topic of the cluster
// this node leads, linearizable: nothing acknowledged before the read
// began is missing from it (see Cluster.ReadPartition). Nothing to do for
// a topic local to this broker.
func (s *Server) readPoint(ctx context.Context, topic string, p int32) error {
	if _, ok := s.placement(topic); !ok {
		return nil
	}
	return s.opts.Cluster.ReadPartition(ctx, topic, p)
}

// routePublish picks, for a topic of the cluster, each message's partition
// as the broker would (by key), sending keyless messages to the partitions
// this node leads (round-robin); a message whose partition another node
// leads fails the whole publish with NOT_LEADER naming that leader.
func (s *Server) routePublish(topic string, msgs []broker.Message) error {
	parts, ok := s.placement(topic)
	if !ok {
		return nil
	}
	self := s.opts.Cluster.ID()
	var local, live []int32
	for _, p := range parts {
		if p.Leader == self {
			local = append(local, p.Partition)
		}
		if !p.Lost {
			live = append(live, p.Partition)
		}
	}
	if len(live) == 0 {
		live = []int32{0} // all lost: the first says so
	}
	for i := range msgs {
		m := &msgs[i]
		switch {
		case m.Partition != broker.AnyPartition:
		case m.Key != nil:
			m.Partition = api.KeyPartition(m.Key, int32(len(parts)))
		case len(local) > 0:
			m.Partition = local[int(s.roundRobin.Add(1))%len(local)]
		default:
			// This node leads none of the topic's partitions: name the
			// leader of the one the message would have gone to, never a
			// lost one while another is not (its answer is for good).
			return s.notLeader(topic, parts[live[int(s.roundRobin.Add(1))%len(live)]]).WithDetail("index", i)
		}
		if m.Partition >= 0 && int(m.Partition) < len(parts) && parts[m.Partition].Leader != self {
			return s.notLeader(topic, parts[m.Partition]).WithDetail("index", i)
		}
	}
	return nil
}

// routeFrames refuses batches for partitions another node leads.
func (s *Server) routeFrames(topic string, frames []broker.Frame) error {
	for _, f := range frames {
		if err := s.checkLeader(topic, f.Partition); err != nil {
			return err
		}
	}
	return nil
}

// clusterTopic reports whether a change of topic goes through the
// cluster's metadata: on a cluster node, for a topic of the metadata, and
// for a name this broker does not hold (the metadata may have it before
// this node applied it; the cluster then answers TOPIC_NOT_FOUND if it
// has not). A topic local to this broker (a DLQ) changes here alone.
func (s *Server) clusterTopic(topic string) bool {
	if s.opts.Cluster == nil {
		return false
	}
	if _, ok := s.placement(topic); ok {
		return true
	}
	_, err := s.b.Topic(topic)
	return err != nil
}

// alterClusterTopic changes a topic of the cluster on every node and
// answers it as this node then has it.
func (s *Server) alterClusterTopic(w http.ResponseWriter, r *http.Request, name string, req api.AlterTopicRequest) error {
	if err := s.opts.Cluster.AlterTopic(r.Context(), name, req); err != nil {
		return err
	}
	info, err := s.b.Topic(name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.withPlacement(wireTopic(info)))
	return nil
}

// createClusterTopic creates req's topic through the cluster's metadata
// (forwarded to its leader); every node creates it locally, this one
// before the answer.
func (s *Server) createClusterTopic(w http.ResponseWriter, r *http.Request, req api.CreateTopicRequest) error {
	if err := s.opts.Cluster.CreateTopic(r.Context(), req); err != nil {
		return err
	}
	info, err := s.b.Topic(req.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.withPlacement(wireTopic(info)))
	return nil
}
