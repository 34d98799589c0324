package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

// Topics in a cluster are created, altered, grown and deleted through the
// metadata group: the proposer draws the topic ID, meta places the
// partitions, and every node brings its own broker in line when it
// applies the command (the reconciler below), and the replicas start and
// stop the partitions' Raft groups (partitions.go). Every node creates
// every partition, so partition numbers mean the same everywhere; a node
// that is no replica of a partition holds it empty.
//
// Deleting a topic stops its groups on every node, removes their Raft
// state and the local copy. Group IDs are never given out again, so a
// topic created again under the same name (with a new topic ID) runs on
// new groups, and a late message for an old group is dropped as unknown.
// Which incarnation a node made locally is recorded (local.go): a node
// that was down across a deletion finds its copy stale when it catches up.

// TopicSink makes the local broker's topics what the metadata says.
// Both methods must be idempotent: they are called again after every
// change of the metadata.
type TopicSink interface {
	// EnsureTopic creates the topic with its settings, or brings an
	// existing one to partitions partitions and to the settings' values.
	EnsureTopic(name string, partitions int32, settings json.RawMessage) error
	// RemoveTopic deletes the local topic; nil if there is none.
	RemoveTopic(name string) error
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

// current is name's topic as of a linearizable read of the metadata.
// Errors: ctx's, UNAVAILABLE (no read point), meta.ErrUnknownTopic.
func (n *Node) current(ctx context.Context, name string) (meta.Topic, error) {
	if err := n.readPoint(ctx); err != nil {
		return meta.Topic{}, err
	}
	t, ok := n.meta.Topic(name)
	if !ok {
		return meta.Topic{}, fmt.Errorf("%w: %q", meta.ErrUnknownTopic, name)
	}
	return t, nil
}

// DeleteTopic deletes topic through the metadata group and returns once
// this node's broker no longer has it. The command names the topic's ID,
// so a retry never deletes a topic created again meanwhile; a retry that
// finds the topic gone (its own earlier attempt) counts as success.
func (n *Node) DeleteTopic(ctx context.Context, name string) error {
	t, err := n.current(ctx, name)
	if err != nil {
		return err
	}
	r, err := n.Propose(ctx, meta.Command{DeleteTopic: &meta.DeleteTopic{Name: name, ID: t.ID}})
	if err != nil {
		return err
	}
	if r.Err != nil && !errors.Is(r.Err, meta.ErrUnknownTopic) {
		return r.Err
	}
	return n.awaitReflected(ctx, func(uint64) bool {
		rec, made := n.locals.get(name)
		return !made || rec.ID != t.ID // gone, or a new incarnation already
	})
}

// AlterTopic grows topic to partitions partitions (0: as it is) and
// merges settings (a JSON object, nil: none) into its settings, through
// the metadata group, and returns once this node's broker reflects it.
func (n *Node) AlterTopic(ctx context.Context, name string, partitions int32, settings json.RawMessage) error {
	t, err := n.current(ctx, name)
	if err != nil {
		return err
	}
	if partitions != 0 && int(partitions) != len(t.Partitions) {
		r, err := n.Propose(ctx, meta.Command{AddPartitions: &meta.AddPartitions{Name: name, ID: t.ID, Count: int(partitions)}})
		if err != nil {
			return err
		}
		if r.Err != nil {
			// A retry of an attempt that did grow it finds the count.
			now, ok := n.meta.Topic(name)
			if !errors.Is(r.Err, meta.ErrPartitionCount) || !ok || now.ID != t.ID || len(now.Partitions) != int(partitions) {
				return r.Err
			}
		}
	}
	if len(settings) > 0 {
		r, err := n.Propose(ctx, meta.Command{AlterTopic: &meta.AlterTopic{Name: name, ID: t.ID, Settings: settings}})
		if err != nil {
			return err
		}
		if r.Err != nil {
			return r.Err
		}
	}
	return n.awaitReflected(ctx, func(target uint64) bool { return n.locals.doneAt(name) >= target })
}

// Replays is the replay record of topic, a DLQ of the cluster
// (meta.SetReplays), and its version, as of a linearizable read of the
// metadata. Errors: current's.
func (n *Node) Replays(ctx context.Context, name string) (json.RawMessage, uint64, error) {
	t, err := n.current(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	return t.Replays, t.ReplaysVersion, nil
}

// SetReplays replaces topic's replay record through the metadata group if
// it is still at version expect (else meta.ErrReplaysChanged), and returns
// its new version, naming the
// topic's ID so that a record never lands on a topic created again
// meanwhile. A retry of an attempt whose outcome was unknown, and which
// did replace it, is refused ErrReplaysChanged: the caller reads the
// record again to tell.
func (n *Node) SetReplays(ctx context.Context, name string, record json.RawMessage, expect uint64) (uint64, error) {
	t, err := n.current(ctx, name)
	if err != nil {
		return 0, err
	}
	r, err := n.Propose(ctx, meta.Command{SetReplays: &meta.SetReplays{Name: name, ID: t.ID, Replays: record, Expect: &expect}})
	switch {
	case err != nil:
		return 0, err
	case r.Err != nil:
		return 0, r.Err
	case r.Topic == nil:
		return 0, fmt.Errorf("cluster: the metadata's answer to SetReplays of %s names no topic", name)
	}
	return r.Topic.ReplaysVersion, nil
}

// readPoint waits until this node's metadata reflects every change
// committed before the call (a ReadIndex read), trying again while the
// metadata group elects, for up to readTimeout — or not at all once it has
// had no leader this node reaches for leaderWait (leaderless). Errors:
// UNAVAILABLE, saying why.
func (n *Node) readPoint(ctx context.Context) error {
	if e := n.leaderless(ctx); e != nil {
		return e
	}
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	for {
		err := n.raft.ReadIndex(rctx, meta.GroupID)
		if err == nil {
			n.confirmed.Store(true)
			return nil
		}
		if errors.Is(err, multiraft.ErrStopped) || rctx.Err() != nil {
			return n.unavailable(ctx, err)
		}
		if e := n.leaderless(ctx); e != nil {
			return e
		}
		select {
		case <-rctx.Done():
			return n.unavailable(ctx, err)
		case <-time.After(retryEvery):
		}
	}
}

// awaitReflected returns once done says this node's broker reflects the
// metadata as of target, the index applied after a read point (so
// every change committed before the call is in).
func (n *Node) awaitReflected(ctx context.Context, done func(target uint64) bool) error {
	if err := n.readPoint(ctx); err != nil {
		return err
	}
	target := n.meta.Applied()
	for !done(target) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// TopicsCurrent waits until this node's broker reflects every topic
// change committed before the call, so that a listing of its topics
// misses none: a node just started on an empty disk holds none until it
// has caught up, and listed "no topics" for a cluster that has them.
// It waits at most topicsWait, a listing's caller being a client that can
// retry. Errors: UNAVAILABLE (no read point, or the broker not caught up
// in time; retry).
func (n *Node) TopicsCurrent(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, topicsWait)
	defer cancel()
	err := n.awaitReflected(ctx, func(target uint64) bool { return n.reconciled.Load() >= target })
	var ae *api.Error
	if err != nil && !errors.As(err, &ae) {
		err = api.ErrUnavailable.Withf("node %d has not caught up with the cluster's topics yet (%v); retry", n.cfg.ID, err).WithDetail("node_id", n.cfg.ID)
	}
	return err
}

// topicsWait bounds TopicsCurrent: a node behind by more than this is
// better told to the client (it asks again, or another node).
const topicsWait = 2 * time.Second

// A node never serves a copy of a cluster topic as a topic of its own:
// a publish written to such a copy alone is acknowledged data no other
// node has, lost at the partition's next restore. So a name this node
// made a copy of for the cluster stays the cluster's (Placement) until
// the copy is removed, even when the metadata no longer holds it (a
// topic deleted while this node was down), and the copy is served only
// while it is the incarnation the metadata names, as of metadata
// confirmed current since this process started (Serves). In between,
// the API answers UNAVAILABLE: the client retries until the node has
// caught up and either removed the copy or made it current.

// Placement is topic's metadata as this node last applied it or, for a
// copy this node made of a topic the metadata no longer holds, that
// topic as recorded (its ID and groups, no replicas: no leader); false
// for a topic local to this node, which neither the metadata holds nor
// this node made for the cluster.
func (n *Node) Placement(topic string) (meta.Topic, bool) {
	if t, ok := n.meta.Topic(topic); ok {
		return t, true
	}
	rec, made := n.locals.get(topic)
	if !made {
		return meta.Topic{}, false
	}
	t := meta.Topic{Name: topic, ID: rec.ID, Partitions: make([]meta.Partition, len(rec.Groups))}
	for i, g := range rec.Groups {
		t.Partitions[i] = meta.Partition{Index: int32(i), Group: g}
	}
	return t, true
}

// Serves reports whether this node may serve topic, a topic of the
// cluster, from its local copy: its metadata was confirmed current since
// this process started, and it records topic's current incarnation (the
// one the metadata names) as made locally. A local copy of topic, if
// there is one, is then that incarnation: the record is written before
// the copy is made, and a stale copy is removed before the record
// changes.
func (n *Node) Serves(topic string) bool {
	if !n.locals.current.Load() {
		return false
	}
	t, ok := n.meta.Topic(topic)
	rec, made := n.locals.get(topic)
	return ok && made && rec.ID == t.ID && len(rec.Groups) == len(t.Partitions)
}

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

// reconcile brings the local broker and the hosted groups in line with the
// metadata whenever what this node applied changes, and again after a
// failure; n.reconciled is the applied index fully reconciled.
func (n *Node) reconcile(ctx context.Context) {
	if n.cfg.Topics == nil {
		return
	}
	warned := repeats{}
	n.everyTick(ctx, func() {
		applied := n.meta.Applied()
		if applied == n.reconciled.Load() {
			return
		}
		if n.reconcileOnce(ctx, applied, warned) {
			n.reconciled.Store(applied)
		}
	})
}

// reconcileOnce makes one pass over the metadata applied at index (or
// later) and reports whether everything succeeded. What failed is logged
// as warned says (retried every tick, it would flood the log).
func (n *Node) reconcileOnce(ctx context.Context, applied uint64, warned repeats) bool {
	warn := func(key, msg, topic string, err error) {
		if warned.due(key, msg+": "+err.Error(), time.Now()) {
			n.log.Warn(msg, "topic", topic, "err", err)
		}
	}
	if !n.locals.current.Load() {
		if err := n.readPoint(ctx); err != nil {
			return false
		}
		n.locals.current.Store(true)
	}
	ok := true
	if len(n.stale()) > 0 {
		// Only a state at least as new as everything committed may delete
		// data: while a restarted node replays its log, the metadata it
		// has applied can be older than its record (a topic not created
		// yet, or its old incarnation).
		if err := n.readPoint(ctx); err != nil {
			ok = false
		} else {
			for name, rec := range n.stale() {
				if err := n.dropLocal(ctx, name, rec); err != nil {
					ok = false
					if ctx.Err() != nil {
						return false
					}
					warn("removing "+name, "cluster: removing a deleted topic failed; retrying", name, err)
					continue
				}
				warned.done("removing " + name)
			}
		}
	}
	for _, tp := range n.meta.Topics() {
		if rec, made := n.locals.get(tp.Name); made && rec.ID != tp.ID {
			ok = false // the old incarnation goes first
			continue
		}
		if err := n.locals.set(tp.Name, &localTopic{ID: tp.ID, Groups: groupsOf(tp)}); err != nil {
			ok = false
			warn(tp.Name, "cluster: recording a topic failed; retrying", tp.Name, err)
			continue
		}
		if err := n.cfg.Topics.EnsureTopic(tp.Name, int32(len(tp.Partitions)), tp.Settings); err != nil {
			ok = false
			warn(tp.Name, "cluster: creating a topic of the metadata failed; retrying", tp.Name, err)
			continue
		}
		if err := n.startPartitions(ctx, tp); err != nil {
			ok = false
			if ctx.Err() != nil {
				return false // shutting down
			}
			warn(tp.Name, "cluster: starting a partition's Raft group failed; retrying", tp.Name, err)
			continue
		}
		warned.done(tp.Name)
		n.locals.markDone(tp.Name, applied)
	}
	return ok
}

// stale is the recorded local topics the metadata no longer holds, or
// holds as another incarnation.
func (n *Node) stale() map[string]localTopic {
	out := map[string]localTopic{}
	for name, rec := range n.locals.all() {
		if t, ok := n.meta.Topic(name); !ok || t.ID != rec.ID {
			out[name] = rec
		}
	}
	return out
}

// dropLocal stops a deleted topic's groups and mirrors, removes their
// Raft state and the local copy, then forgets the record.
func (n *Node) dropLocal(ctx context.Context, name string, rec localTopic) error {
	n.stopMirrors(rec.Groups)
	for _, g := range rec.Groups {
		if err := n.raft.RemoveGroup(ctx, g); err != nil {
			return err
		}
		n.pmu.Lock()
		h := n.parts[g]
		delete(n.parts, g)
		delete(n.leaders, g)
		n.pmu.Unlock()
		if h != nil {
			h.sm.Close()
		}
	}
	if err := n.cfg.Topics.RemoveTopic(name); err != nil {
		return err
	}
	if err := n.locals.set(name, nil); err != nil {
		return err
	}
	n.log.Info("cluster: deleted topic removed from this node", "topic", name, "groups", len(rec.Groups))
	return nil
}
