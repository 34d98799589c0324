package main

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// In a cluster every consumer group has one coordinator node, which alone
// keeps the group's members, assignment, in-flight messages and committed
// offsets; the other nodes refuse the group's requests with
// NOT_COORDINATOR naming it. The coordinator is a pure function of the
// group ID and the nodes registered in the applied metadata, so every node
// names the same one without asking anyone once it has applied the same
// registrations.

var _ httpapi.GroupCoordinators = (*clusterBridge)(nil)

// CreateKafkaTopic creates a topic asked for over Kafka through the
// metadata, as POST /topics does: the spec (which the Kafka listener
// built from the request's configs) is said as a creation request,
// checked as the HTTP API checks it, and created by CreateTopic with
// replication factor rf (0: the cluster's default).
func (c *clusterBridge) CreateKafkaTopic(ctx context.Context, spec broker.TopicSpec, rf int32) error {
	req := api.CreateTopicRequest{
		Name: spec.Name, Partitions: spec.Partitions, RetentionBytes: spec.RetentionBytes,
		SegmentBytes: spec.SegmentBytes, SegmentMS: spec.SegmentAge.Milliseconds(),
		MaxMessageBytes: spec.MaxMessageBytes, Fsync: spec.Fsync, ReplicationFactor: rf,
	}
	switch {
	case spec.Retention < 0:
		req.RetentionHours = -1
	case spec.Retention > 0:
		// Whole hours, rounded up, as the broker keeps retention.
		req.RetentionHours = int64((spec.Retention + time.Hour - 1) / time.Hour)
	}
	if _, err := httpapi.TopicSpec(req); err != nil {
		return err
	}
	return c.CreateTopic(ctx, req)
}

// Coordinator is the node coordinating group: rendezvous hashing over the
// registered nodes. False while no node has registered (this node's own
// registration not yet applied).
func (c *clusterBridge) Coordinator(group string) (uint64, bool) {
	nodes := c.n.Nodes()
	ids := make([]uint64, len(nodes))
	for i, m := range nodes {
		ids[i] = m.ID
	}
	id := groupCoordinator(group, ids)
	return id, id != 0
}

// groupCoordinator picks group's coordinator among nodes (0 for none) by
// rendezvous (highest random weight) hashing: each node scores the group,
// the highest score wins. Kafka hashes a group to one of 50
// __consumer_offsets partitions whose leader coordinates it, which spreads
// well but, done as hash mod node count, would move most groups whenever
// a node joins or leaves. With rendezvous hashing a joining node takes
// only the groups it now scores highest for (about 1/n of them) and a
// leaving node's groups spread over the rest; nobody else's move. The
// order of nodes does not matter; ties (astronomically rare) go to the
// lower ID.
func groupCoordinator(group string, nodes []uint64) uint64 {
	var best, bestScore uint64
	for _, n := range nodes {
		s := rendezvousScore(group, n)
		if best == 0 || s > bestScore || s == bestScore && n < best {
			best, bestScore = n, s
		}
	}
	return best
}

// rendezvousScore is node's weight for group: FNV-1a of both, then
// SplitMix64's finalizer, since FNV alone spreads the last bytes written
// poorly over the high bits the comparison looks at. Both are fixed
// algorithms, so every node and every version computes the same scores
// (hash/maphash would not: its seed is random per process).
func rendezvousScore(group string, node uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(group))
	h.Write(binary.BigEndian.AppendUint64(nil, node))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
