package node

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
)

// Topics in a cluster are created through the metadata group: the proposer
// draws the topic ID, meta places the partitions, and every node creates
// the topic in its own broker when it applies the command (the reconciler
// below), and the replicas start the partitions' Raft groups
// (partitions.go). Every node creates every partition, so partition
// numbers mean the same everywhere; a node that is no replica of a
// partition holds it empty.

// TopicSink creates, in the local broker, the topics the metadata names.
// EnsureTopic must be idempotent: it is called again after every change of
// the metadata, for every topic.
type TopicSink interface {
	EnsureTopic(name string, partitions int32, settings json.RawMessage) error
}

// CreateTopic creates a topic through the metadata group, with
// replicationFactor replicas per partition (placement spreads them over
// the nodes), and returns its
// metadata. settings travel to every node's EnsureTopic. A retry that finds
// the topic created by its own earlier attempt (same ID) counts as success.
func (n *Node) CreateTopic(ctx context.Context, name string, partitions int32, replicationFactor int, settings json.RawMessage) (meta.Topic, error) {
	id, err := meta.NewTopicID()
	if err != nil {
		return meta.Topic{}, err
	}
	r, err := n.Propose(ctx, meta.Command{CreateTopic: &meta.CreateTopic{
		Name: name, ID: id, Partitions: int(partitions), ReplicationFactor: replicationFactor, Settings: settings,
	}})
	if err != nil {
		return meta.Topic{}, err
	}
	if errors.Is(r.Err, meta.ErrTopicExists) {
		if t, ok := n.meta.Topic(name); ok && t.ID == id {
			return t, nil
		}
	}
	if r.Err != nil {
		return meta.Topic{}, r.Err
	}
	return *r.Topic, nil
}

// Placement is topic's metadata as this node last applied it; false if the
// metadata has no such topic (a topic local to this node).
func (n *Node) Placement(topic string) (meta.Topic, bool) { return n.meta.Topic(topic) }

// ID is this node's ID.
func (n *Node) ID() uint64 { return n.cfg.ID }

// Topics are the metadata's topics as this node last applied it.
func (n *Node) Topics() []meta.Topic { return n.meta.Topics() }

// Nodes are the registered nodes as this node last applied the metadata,
// in ID order.
func (n *Node) Nodes() []meta.Node { return n.meta.Nodes() }

// HTTPAddr is the HTTP address node id registered, "" if unknown.
func (n *Node) HTTPAddr(id uint64) string {
	for _, m := range n.meta.Nodes() {
		if m.ID == id {
			return m.HTTPAddr
		}
	}
	return ""
}

// reconcile calls the sink for every topic of the metadata whenever what
// this node applied changes, and again after a failure.
func (n *Node) reconcile(ctx context.Context) {
	if n.cfg.Topics == nil {
		return
	}
	var done uint64 // the applied index fully reconciled
	n.everyTick(ctx, func() {
		applied := n.meta.Applied()
		if applied == done {
			return
		}
		ok := true
		for _, tp := range n.meta.Topics() {
			if err := n.cfg.Topics.EnsureTopic(tp.Name, int32(len(tp.Partitions)), tp.Settings); err != nil {
				ok = false
				n.log.Warn("cluster: creating a topic of the metadata failed; retrying", "topic", tp.Name, "err", err)
				continue
			}
			if err := n.startPartitions(ctx, tp); err != nil {
				ok = false
				if ctx.Err() != nil {
					return // shutting down
				}
				n.log.Warn("cluster: starting a partition's Raft group failed; retrying", "topic", tp.Name, "err", err)
			}
		}
		if ok {
			done = applied
		}
	})
}
