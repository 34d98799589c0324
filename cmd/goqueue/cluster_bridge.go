package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/node"
	"github.com/abd-ulbasit/goqueue/internal/cluster/replica"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/internal/kafka"
	"github.com/abd-ulbasit/goqueue/internal/metrics"
)

// clusterBridge joins the cluster node and the local broker, neither of
// which knows the other: it is httpapi's Cluster and the node's TopicSink.
type clusterBridge struct {
	n                 *node.Node // set once the node is open
	b                 *broker.Broker
	defaultPartitions int32
	maxPartitions     int32 // the broker's: every node's must take a count
	nodes             int   // the cluster's size (--peers)
	groups            *groupShards
	// api is the HTTP API once it is made, for peers listing the
	// groups this node coordinates (cluster_listgroups.go).
	api atomic.Pointer[httpapi.Server]
}

var (
	_ httpapi.Cluster    = (*clusterBridge)(nil)
	_ kafka.Cluster      = (*clusterBridge)(nil)
	_ node.TopicSink     = (*clusterBridge)(nil)
	_ node.PartitionLogs = (*clusterBridge)(nil)
	_ broker.Replicator  = (*clusterBridge)(nil)
)

func (c *clusterBridge) Status(ctx context.Context) (api.ClusterStatus, error) {
	return c.n.Status(ctx)
}

func (c *clusterBridge) ReadPartition(ctx context.Context, topic string, partition int32) error {
	return readPoint(ctx, c.n, topic, partition)
}

// readPoint is n.ReadPartition with its errors all *api.Error: a lost
// partition's said as PARTITION_LOST.
func readPoint(ctx context.Context, n *node.Node, topic string, partition int32) error {
	err := n.ReadPartition(ctx, topic, partition)
	var le *node.LostError
	if errors.As(err, &le) {
		return httpapi.PartitionLost(topic, partition, le.Replicas, le.Lost)
	}
	return err
}

func (c *clusterBridge) ConfirmAbsent(ctx context.Context, topic string, partition int32) error {
	return c.n.ConfirmAbsent(ctx, topic, partition)
}

func (c *clusterBridge) TopicsCurrent(ctx context.Context) error { return c.n.TopicsCurrent(ctx) }

func (c *clusterBridge) Ready(ctx context.Context) error { return c.n.Ready(ctx) }

func (c *clusterBridge) ClusterStats(ctx context.Context) (metrics.ClusterStats, error) {
	n, err := c.n.RaftCounts(ctx)
	if err != nil {
		return metrics.ClusterStats{}, err
	}
	lost := 0
	for _, t := range c.n.Topics() {
		for _, p := range t.Partitions {
			if c.n.Lost(p) != nil {
				lost++
			}
		}
	}
	return metrics.ClusterStats{PeersUp: c.n.PeersUp(), Hosted: n.Hosted, Led: n.Led, Quiet: n.Quiet, Lost: lost}, nil
}

func (c *clusterBridge) ID() uint64                { return c.n.ID() }
func (c *clusterBridge) HTTPAddr(id uint64) string { return c.n.HTTPAddr(id) }
func (c *clusterBridge) Listed(id uint64) bool     { return c.n.Listed(id) }

func (c *clusterBridge) Offline(replicas []uint64) []uint64 { return c.n.Offline(replicas) }

// KafkaAddrs is the registered Kafka listener (as advertise made it) of
// each node this one names to clients as alive (node.Listed).
func (c *clusterBridge) KafkaAddrs() map[uint64]string {
	out := map[uint64]string{}
	for _, m := range c.n.Nodes() {
		if m.KafkaAddr != "" && c.n.Listed(m.ID) {
			out[m.ID] = m.KafkaAddr
		}
	}
	return out
}

func (c *clusterBridge) TopicID(topic string) ([16]byte, bool) {
	t, ok := c.n.Placement(topic)
	return t.ID, ok
}

func (c *clusterBridge) TopicName(id [16]byte) (string, bool) {
	for _, t := range c.n.Topics() {
		if t.ID == id {
			return t.Name, true
		}
	}
	return "", false
}

// Placement is topic's partitions as this node knows them. A topic of the
// cluster this node does not serve yet (node.Serves: its copy may be of a
// topic deleted or created again since) names no leader, so reads and
// writes of it here are refused as retriable until it does.
func (c *clusterBridge) Placement(topic string) ([]api.ClusterPartition, bool) {
	t, ok := c.n.Placement(topic)
	if !ok {
		return nil, false
	}
	serves := c.n.Serves(topic)
	out := make([]api.ClusterPartition, len(t.Partitions))
	for i, p := range t.Partitions {
		out[i] = api.ClusterPartition{Partition: p.Index, Group: p.Group, Replicas: p.Replicas}
		if serves {
			out[i].Leader, out[i].LeaderEpoch, out[i].ISR = c.n.PartitionView(p)
		}
		out[i].LostReplicas = c.n.Lost(p)
		out[i].Lost = out[i].LostReplicas != nil
	}
	return out, true
}

// localWait bounds how long a creation waits for this node to create the
// topic the metadata already holds.
const localWait = 10 * time.Second

// CreateTopic proposes the topic (its whole request travels as settings)
// and waits until this broker has it and knows every partition's leader
// (the groups' first elections), so the answer names the leaders.
func (c *clusterBridge) CreateTopic(ctx context.Context, req api.CreateTopicRequest) error {
	if req.Partitions == 0 {
		req.Partitions = c.defaultPartitions
	}
	rf, err := c.ReplicationFactor(req.ReplicationFactor)
	if err != nil {
		return err
	}
	settings, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, localWait)
	defer cancel()
	if _, err := c.n.CreateTopic(ctx, req.Name, req.Partitions, rf, settings); err != nil {
		return metaError(err)
	}
	for {
		if _, err := c.b.Topic(req.Name); err == nil && c.n.Serves(req.Name) && c.leadersKnown(req.Name) {
			return nil
		}
		select {
		case <-ctx.Done():
			return api.ErrUnavailable.Withf("topic %s is in the cluster's metadata but not yet created on this node; retry", req.Name)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// metaError says a refusal of the metadata group in the API's codes.
func metaError(err error) error {
	switch {
	case errors.Is(err, meta.ErrTopicExists):
		return api.ErrTopicExists.Withf("%v", err)
	case errors.Is(err, meta.ErrUnknownTopic):
		return api.ErrTopicNotFound.Withf("%v", err)
	case errors.Is(err, meta.ErrPartitionCount):
		return api.ErrInvalidPartitions.Withf("%v", err)
	case errors.Is(err, meta.ErrInvalid):
		return api.ErrInvalidArgument.Withf("%v", err)
	case errors.Is(err, meta.ErrTooFewNodes):
		return api.ErrUnavailable.Withf("%v: the nodes have not registered yet; retry", err)
	}
	var coded *api.Error
	if errors.As(err, &coded) {
		return err
	}
	return api.ErrUnavailable.Withf("the cluster's metadata group did not take the change (%v); retry", err)
}

// DeleteTopic deletes a topic of the metadata on every node, and returns
// once this broker no longer has it.
func (c *clusterBridge) DeleteTopic(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, localWait)
	defer cancel()
	if err := c.n.DeleteTopic(ctx, name); err != nil {
		return metaError(err)
	}
	return nil
}

// AlterTopic grows a topic of the metadata and changes its settings on
// every node, and returns once this broker has the change. The settings
// travel as the fields of req other than the partition count (they share
// their names with a creation's, whose settings they update).
func (c *clusterBridge) AlterTopic(ctx context.Context, name string, req api.AlterTopicRequest) error {
	partitions := req.Partitions
	req.Partitions = 0
	var settings json.RawMessage
	if req != (api.AlterTopicRequest{}) {
		b, err := json.Marshal(req)
		if err != nil {
			return err
		}
		settings = b
	}
	if partitions > 0 && partitions > c.maxPartitions {
		return api.ErrInvalidPartitions.Withf("count %d is more than the maximum of %d partitions", partitions, c.maxPartitions).
			WithDetail("max", c.maxPartitions)
	}
	ctx, cancel := context.WithTimeout(ctx, localWait)
	defer cancel()
	if err := c.n.AlterTopic(ctx, name, partitions, settings); err != nil {
		return metaError(err)
	}
	return nil
}

// EnsureTopic creates the topic in the local broker with its settings, or
// brings an existing one to the partition count and to the settings an
// alteration may change (retention, retention bytes, max message size);
// a topic already as the metadata says is left alone.
func (c *clusterBridge) EnsureTopic(name string, partitions int32, settings json.RawMessage) error {
	var req api.CreateTopicRequest
	if len(settings) > 0 {
		if err := json.Unmarshal(settings, &req); err != nil {
			return fmt.Errorf("settings of topic %s: %w", name, err)
		}
	}
	req.Name, req.Partitions = name, partitions
	spec, err := httpapi.TopicSpec(req)
	if err != nil {
		return err
	}
	if info, err := c.b.Topic(name); err == nil {
		if info.Config.Partitions < partitions {
			if _, err := c.b.AddPartitions(name, partitions); err != nil {
				return err
			}
		}
		change := broker.TopicChange{Retention: spec.Retention, RetentionBytes: spec.RetentionBytes, MaxMessageBytes: spec.MaxMessageBytes}
		if change == (broker.TopicChange{}) {
			return nil
		}
		_, err = c.b.AlterTopic(name, change) // unchanged values change nothing
		return err
	}
	_, err = c.b.CreateTopic(spec)
	if errors.Is(err, api.ErrTopicExists) {
		return nil // created meanwhile by another path
	}
	return err
}

// RemoveTopic deletes the local copy of a topic the metadata deleted.
func (c *clusterBridge) RemoveTopic(name string) error {
	if err := c.b.DeleteTopic(name); err != nil && !errors.Is(err, api.ErrTopicNotFound) {
		return err
	}
	return nil
}

// ReplicationFactor is a creation's replication factor: asked (at most the
// cluster's size) or the default (asked 0), 3 in a cluster of 3 or more,
// else 1.
func (c *clusterBridge) ReplicationFactor(asked int32) (int, error) {
	switch {
	case asked < 0 || int(asked) > c.nodes:
		return 0, api.ErrInvalidArgument.Withf("replication_factor %d: this cluster has %d nodes, so it must be between 1 and %d (0: the default)", asked, c.nodes, c.nodes).
			WithDetail("field", "replication_factor").WithDetail("nodes", c.nodes)
	case asked > 0:
		return int(asked), nil
	case c.nodes >= 3:
		return 3, nil
	}
	return 1, nil
}

// Replicates says the cluster's topics are replicated: the metadata's, and
// a copy this node made of one the metadata no longer holds (Append then
// refuses it; it is never written as a local topic). Topics local to this
// node are not.
func (c *clusterBridge) Replicates(topic string) bool {
	_, ok := c.n.Placement(topic)
	return ok
}

// Append proposes a partition's batches to its Raft group.
func (c *clusterBridge) Append(topic string, partition int32, batches []byte) ([]int64, error) {
	bases, err := c.n.AppendPartition(context.Background(), topic, partition, batches)
	if err != nil {
		return nil, c.appendError(topic, partition, err)
	}
	return bases, nil
}

// appendError says a failed append in the API's codes.
func (c *clusterBridge) appendError(topic string, partition int32, err error) error {
	var nl *multiraft.NotLeaderError
	var le *node.LostError
	switch {
	case errors.As(err, &le):
		return httpapi.PartitionLost(topic, partition, le.Replicas, le.Lost)
	case errors.Is(err, node.ErrNotServing):
		return api.ErrUnavailable.Withf("node %d has not caught up with the cluster's metadata of topic %s yet; retry", c.n.ID(), topic).
			WithDetail("topic", topic).WithDetail("partition", partition)
	case errors.As(err, &nl):
		e := api.ErrNotLeader.Withf("node %d does not lead %s/%d; its leader is node %d", c.n.ID(), topic, partition, nl.Leader).
			WithDetail("partition", partition).WithDetail("leader", nl.Leader)
		if nl.Leader == 0 {
			var replicas []uint64
			if t, ok := c.n.Placement(topic); ok && partition >= 0 && int(partition) < len(t.Partitions) {
				replicas = t.Partitions[partition].Replicas
			}
			return httpapi.NoLeader(topic, partition, replicas, c.n.Offline(replicas))
		}
		if addr := c.n.HTTPAddr(nl.Leader); addr != "" {
			e = e.WithDetail("leader_addr", addr)
		}
		return e
	case errors.Is(err, multiraft.ErrDropped):
		return api.ErrUnavailable.Withf("partition %s/%d: leadership changed before the write committed; nothing was written, retry", topic, partition).WithDetail("partition", partition)
	case errors.Is(err, multiraft.ErrUnknownOutcome), errors.Is(err, context.DeadlineExceeded), errors.Is(err, node.ErrPeerNoAnswer):
		return api.ErrUnavailable.Withf("partition %s/%d: the write's outcome is unknown (%v); a retry may store it twice", topic, partition, err).WithDetail("partition", partition)
	case errors.Is(err, multiraft.ErrStopped), errors.Is(err, replica.ErrClosed):
		return api.ErrUnavailable.Withf("this node is shutting down")
	case errors.Is(err, multiraft.ErrRemoved), errors.Is(err, multiraft.ErrUnknownGroup):
		return api.ErrTopicNotFound.Withf("topic %s was deleted", topic).WithDetail("topic", topic)
	}
	return err
}

// PartitionLog is the local log of a partition this node replicates.
func (c *clusterBridge) PartitionLog(topic string, partition int32) (replica.Log, error) {
	return c.b.ReplicaLog(topic, partition)
}

// leadersKnown reports whether this node knows a leader for every
// partition of topic that can have one: a partition whose replicas are
// down (too few alive to elect a leader: a topic of replication factor 1
// placed on a node that is down) has none to wait for.
func (c *clusterBridge) leadersKnown(topic string) bool {
	parts, ok := c.Placement(topic)
	if !ok {
		return false
	}
	for _, p := range parts {
		if p.Leader == 0 && c.n.Offline(p.Replicas) == nil {
			return false
		}
	}
	return true
}
