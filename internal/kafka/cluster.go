package kafka

import (
	"context"
	"math"
	"net"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// Cluster is what the Kafka listener of a cluster node (--node-id,
// --peers) asks of the cluster: which node leads each partition and where
// each node's Kafka listener is (internal/cluster/node, bridged in
// cmd/goqueue). Nil on a single broker, which describes itself as the
// whole cluster and leads every partition.
type Cluster interface {
	// ID is this node's ID (its Kafka broker ID).
	ID() uint64
	// Placement is topic's partitions (replicas, leader) as this node
	// last applied the metadata; false for a topic the metadata does not
	// hold (local to this broker, such as one created over Kafka).
	Placement(topic string) ([]api.ClusterPartition, bool)
	// KafkaAddrs is each registered node's Kafka listener ("host:port"
	// as clients should dial it), by node ID; nodes without one, and
	// nodes this one has not heard from for seconds (while it hears from
	// a majority), are absent. Kafka's Metadata lists only live brokers
	// too, and clients rely on it: sarama forgets a group coordinator
	// only once Metadata stops naming it, so a dead one listed kept its
	// consumer groups dialing the dead node until it came back.
	KafkaAddrs() map[uint64]string
	// TopicID is topic's ID in the metadata, the same on every node;
	// false for a local topic. TopicName is the metadata's topic with ID
	// id; false if none.
	TopicID(topic string) ([16]byte, bool)
	TopicName(id [16]byte) (string, bool)
	// Coordinator is the node coordinating consumer group group, the same
	// on every node that applied the same registrations; false while no
	// node is known.
	Coordinator(group string) (uint64, bool)
	// ReplicationFactor is the replication factor a creation asking for
	// asked replicas (0: the cluster's default) gets; an error (an
	// *api.Error) if the cluster cannot hold that many.
	ReplicationFactor(asked int32) (int, error)
	// CreateKafkaTopic creates a topic through the cluster's metadata
	// with replication factor rf (0: the cluster's default) and returns
	// once this broker has it; errors are *api.Error.
	CreateKafkaTopic(ctx context.Context, spec broker.TopicSpec, rf int32) error
	// DeleteTopic deletes a topic of the metadata on every node;
	// AlterTopic grows one (req.Partitions) on every node. Both return
	// once this broker has the change; errors are *api.Error.
	DeleteTopic(ctx context.Context, name string) error
	AlterTopic(ctx context.Context, name string, req api.AlterTopicRequest) error
	// ReadPartition waits until this node's copy of a partition it leads
	// reflects every write acknowledged before the call (a Raft
	// ReadIndex); errors are *api.Error (UNAVAILABLE: retry).
	ReadPartition(ctx context.Context, topic string, partition int32) error
	// ConfirmAbsent confirms with the metadata that a topic (partition
	// < 0) this broker does not hold does not exist in the cluster
	// either: nil, or an *api.Error UNAVAILABLE when it cannot (this node
	// just started, on an empty disk, or has not created the topic yet).
	ConfirmAbsent(ctx context.Context, topic string, partition int32) error
	// TopicsCurrent waits until this broker holds every topic of the
	// cluster committed before the call; an *api.Error UNAVAILABLE when it
	// cannot say so within a bound of its own or before ctx ends.
	TopicsCurrent(ctx context.Context) error
}

// caughtUp waits, for a partition of the cluster's metadata, until this
// node's copy reflects every write acknowledged before the call. A leader
// just elected serves its copy before it has applied its predecessor's
// last entries: what it would answer then — the end of an epoch, a fetch
// past its high watermark — is below what a consumer has read, which a
// Kafka client takes for a truncated log. Nil on a single broker and for
// a topic local to this one. Only the rare answers that would tell a
// consumer it is ahead of the log ask (a Raft round each).
func (s *Server) caughtUp(ctx context.Context, topic string, partition int32) error {
	if _, ok := s.clusterPlacement(topic); !ok {
		return nil
	}
	return s.opts.Cluster.ReadPartition(ctx, topic, partition)
}

// topicID is ti's Kafka topic ID: in a cluster, for a topic of the
// metadata, the metadata's, which every node answers alike (each node's
// local copy of the topic has an ID of its own, and a client fetches by ID
// from every leader).
func (s *Server) topicID(ti broker.TopicInfo) [16]byte {
	if s.opts.Cluster != nil {
		if id, ok := s.opts.Cluster.TopicID(ti.Config.Name); ok {
			return id
		}
	}
	return ti.Config.ID()
}

// topicByID is the name of the topic whose Kafka ID is id (see topicID).
// Errors: TOPIC_NOT_FOUND.
func (s *Server) topicByID(id [16]byte) (string, error) {
	if s.opts.Cluster != nil {
		if name, ok := s.opts.Cluster.TopicName(id); ok {
			return name, nil
		}
	}
	return s.b.TopicByID(id)
}

// clusterPlacement is topic's partitions in the cluster's metadata; false
// on a single broker and for a local topic.
func (s *Server) clusterPlacement(topic string) ([]api.ClusterPartition, bool) {
	if s.opts.Cluster == nil {
		return nil, false
	}
	return s.opts.Cluster.Placement(topic)
}

// clusterTopic reports whether a change of topic goes through the
// cluster's metadata: on a cluster node, for a topic of the metadata and
// for a name this broker does not hold (the metadata may have it before
// this node applied it). A topic local to this broker changes here alone.
// As DELETE /topics/{t} and POST /topics/{t}/partitions decide.
func (s *Server) clusterTopic(topic string) bool {
	if s.opts.Cluster == nil {
		return false
	}
	if _, ok := s.clusterPlacement(topic); ok {
		return true
	}
	_, err := s.b.Topic(topic)
	return err != nil
}

// brokers is every broker a Metadata answer names: this one as the client
// reached it and, in a cluster, every other live node with a Kafka
// listener. A partition led by a node left out is LEADER_NOT_AVAILABLE
// (place), a group it coordinates COORDINATOR_NOT_AVAILABLE
// (findCoordinator), until the cluster elects another.
func (s *Server) brokers(c *conn) []kmsg.MetadataResponseBroker {
	self := s.self(c)
	if s.opts.Cluster == nil {
		return []kmsg.MetadataResponseBroker{self}
	}
	self.NodeID = int32(s.opts.Cluster.ID())
	out := []kmsg.MetadataResponseBroker{self}
	for id, addr := range s.opts.Cluster.KafkaAddrs() {
		host, port, err := net.SplitHostPort(addr)
		p, perr := strconv.Atoi(port)
		if id == s.opts.Cluster.ID() || err != nil || perr != nil {
			continue
		}
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = int32(id), host, int32(p)
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b kmsg.MetadataResponseBroker) int { return int(a.NodeID) - int(b.NodeID) })
	return out
}

// place sets, for a topic of the cluster's metadata, each partition's
// leader and replicas in mt as the metadata says. A partition whose leader
// is unknown or has no Kafka listener among brokers is answered
// LEADER_NOT_AVAILABLE (retriable: clients ask again); so is a lost one
// (api.ErrPartitionLost), with its lost replicas offline, as Kafka shows
// a partition none of whose replicas can lead. A topic local to
// this broker keeps this broker as its leader.
func (s *Server) place(mt *kmsg.MetadataResponseTopic, brokers []kmsg.MetadataResponseBroker) {
	if s.opts.Cluster == nil || mt.Topic == nil {
		return
	}
	parts, ok := s.opts.Cluster.Placement(*mt.Topic)
	if !ok {
		return
	}
	listed := func(id uint64) bool {
		return slices.ContainsFunc(brokers, func(b kmsg.MetadataResponseBroker) bool { return uint64(b.NodeID) == id })
	}
	for i := range mt.Partitions {
		mp := &mt.Partitions[i]
		if mp.Partition < 0 || int(mp.Partition) >= len(parts) {
			continue
		}
		cp := parts[mp.Partition]
		mp.Replicas, mp.OfflineReplicas = mp.Replicas[:0], mp.OfflineReplicas[:0]
		for _, r := range cp.Replicas {
			mp.Replicas = append(mp.Replicas, int32(r))
			if !listed(r) || slices.Contains(cp.LostReplicas, r) { // a node this one counts down (brokers), or a copy gone
				mp.OfflineReplicas = append(mp.OfflineReplicas, int32(r))
			}
		}
		// The replicas in sync as the partition's leader judged them
		// (docs/cluster.md); while none is recorded, the leader alone.
		mp.ISR = mp.ISR[:0]
		for _, r := range cp.ISR {
			mp.ISR = append(mp.ISR, int32(r))
		}
		if len(mp.ISR) == 0 && cp.Leader != 0 {
			mp.ISR = append(mp.ISR, int32(cp.Leader))
		}
		mp.Leader, mp.LeaderEpoch = int32(cp.Leader), kafkaEpoch(cp.LeaderEpoch)
		if cp.Leader == 0 || !listed(cp.Leader) {
			mp.Leader, mp.LeaderEpoch, mp.ErrorCode = -1, -1, kerr.LeaderNotAvailable.Code
		}
	}
}

// leads refuses a read or write of a partition another node leads with
// NOT_LEADER (Kafka's NOT_LEADER_OR_FOLLOWER: the client refreshes its
// metadata and goes to the leader), and of a lost one with PARTITION_LOST
// (LEADER_NOT_AVAILABLE). This node's copy of such a partition
// stays empty.
func (s *Server) leads(topic string, partition int32) error {
	_, err := s.led(topic, partition, -1)
	return err
}

// led is leads for a request that names current, the leader epoch the
// client knows of the partition (-1: none), and returns the partition's
// epoch here: on a single broker and for a topic local to this one, 0,
// the only epoch; in a cluster, the Raft term in which its leader leads
// (-1 while unknown). A client that names an older epoch than this
// leader's is refused with FENCED_LEADER_EPOCH, a newer one with
// UNKNOWN_LEADER_EPOCH: its metadata is stale, or this node's is, and the
// client asks for metadata again (both retriable).
func (s *Server) led(topic string, partition, current int32) (int32, error) {
	var epoch int32
	if s.opts.Cluster != nil {
		parts, ok := s.opts.Cluster.Placement(topic)
		if ok && partition >= 0 && int(partition) < len(parts) {
			cp, self := parts[partition], s.opts.Cluster.ID()
			if cp.Lost {
				return -1, api.ErrPartitionLost.Withf("partition %s/%d can never have a leader again: its replicas on nodes %v were on disks that are gone", topic, partition, cp.LostReplicas)
			}
			if cp.Leader != self {
				return -1, api.ErrNotLeader.Withf("node %d does not lead %s/%d; its leader is node %d", self, topic, partition, cp.Leader)
			}
			epoch = kafkaEpoch(cp.LeaderEpoch)
		}
	}
	switch {
	case current < 0 || epoch < 0:
	case current < epoch:
		return epoch, kerr.FencedLeaderEpoch
	case current > epoch:
		return epoch, kerr.UnknownLeaderEpoch
	}
	return epoch, nil
}

// kafkaEpoch is the Kafka leader epoch of a leader elected in Raft term
// term (terms start at 1; 0 is unknown): the term itself, -1 if unknown
// or past what Kafka's int32 holds.
func kafkaEpoch(term uint64) int32 {
	if term == 0 || term > math.MaxInt32 {
		return -1
	}
	return int32(term)
}

// appendLed is appendBatches on a partition this node leads.
func (s *Server) appendLed(topic string, partition int32, records []byte) (int64, func() error, int16, string) {
	if err := s.leads(topic, partition); err != nil {
		return -1, nil, errorCode(err), errText(err)
	}
	return s.appendBatches(topic, partition, records)
}

// readLed is the broker's ReadBatches on a partition this node leads, at
// the leader epoch current the client names (see led).
func (s *Server) readLed(topic string, partition, current int32, offset int64, maxBytes int, dst []byte) (broker.StoredBatches, error) {
	if _, err := s.led(topic, partition, current); err != nil {
		return broker.StoredBatches{}, err
	}
	return s.b.ReadBatches(topic, partition, offset, maxBytes, dst)
}
