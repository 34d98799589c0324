package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/cluster/groupstore"
	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/node"
	"github.com/abd-ulbasit/goqueue/internal/coordinator"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// In a cluster every consumer group has one coordinator node, which alone
// keeps the group's members, assignment and in-flight messages; the other
// nodes refuse the group's requests with NOT_COORDINATOR naming it. The
// group's durable state (committed offsets, acknowledged ranges, saved
// settings) is replicated: the group hashes to one of groupstore.Shards
// Raft groups (node/groupshards.go), whose leader is its coordinator, and
// every write is acknowledged once a majority has it. When that leader
// dies another replica is elected, claims the shard and adopts its groups
// as last written: members rejoin (their member IDs are unknown there) at
// generations past the ones the dead node handed out (the shard's
// generation ceiling: groupstore.State.Generations), what was in flight
// is delivered again, nothing acknowledged is.

var (
	_ broker.ClusterDLQ         = (*clusterBridge)(nil)
	_ httpapi.GroupCoordinators = (*clusterBridge)(nil)
	_ node.GroupShardSink       = (*groupShards)(nil)
	_ coordinator.Replicated    = (*groupShards)(nil)
)

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

// dlqWait bounds a dead letter's write (each of creating the DLQ and
// appending), which the request that settled the message waits for, as
// for a group write (groupWriteTimeout); the group keeps it pending and
// tries again after its backoff when this fails.
const dlqWait = 5 * time.Second

// EnsureDLQ makes a replicated topic's DLQ a topic of the cluster, as
// POST /topics would create it (the cluster's default replication
// factor), so the group coordinator's dead letters survive that node and
// are where the next coordinator writes too; one smaller than spec grows.
func (c *clusterBridge) EnsureDLQ(spec broker.TopicSpec) error {
	ctx, cancel := context.WithTimeout(context.Background(), dlqWait)
	defer cancel()
	if t, ok := c.n.Placement(spec.Name); ok {
		if int32(len(t.Partitions)) >= spec.Partitions {
			return nil
		}
		err := c.AlterTopic(ctx, spec.Name, api.AlterTopicRequest{Partitions: spec.Partitions})
		if t, ok := c.n.Placement(spec.Name); err != nil && ok && int32(len(t.Partitions)) >= spec.Partitions {
			return nil // grown meanwhile by another coordinator
		}
		return err
	}
	err := c.CreateKafkaTopic(ctx, spec, 0)
	if errors.Is(err, api.ErrTopicExists) {
		return nil // created meanwhile by another coordinator
	}
	return err
}

// AppendVia writes batches (a dead letter, or one replayed) through the
// partition's leader, wherever it is.
func (c *clusterBridge) AppendVia(topic string, partition int32, batches []byte) ([]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dlqWait)
	defer cancel()
	bases, err := c.n.AppendVia(ctx, topic, partition, batches)
	if err != nil {
		return nil, c.appendError(topic, partition, err)
	}
	return bases, nil
}

// ReadPoint makes this node's copy of a DLQ partition current before a
// replay reads it.
func (c *clusterBridge) ReadPoint(topic string, partition int32) error {
	ctx, cancel := context.WithTimeout(context.Background(), dlqWait)
	defer cancel()
	return readPoint(ctx, c.n, topic, partition)
}

// Replays reads a DLQ's replay record and its version from the metadata.
func (c *clusterBridge) Replays(dlq string) ([]byte, uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dlqWait)
	defer cancel()
	record, version, err := c.n.Replays(ctx, dlq)
	if err != nil {
		return nil, 0, metaError(err)
	}
	return record, version, nil
}

// SetReplays replaces a DLQ's replay record in the metadata if it is
// still at version expect (else broker.ErrReplaysChanged).
func (c *clusterBridge) SetReplays(dlq string, record []byte, expect uint64) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dlqWait)
	defer cancel()
	version, err := c.n.SetReplays(ctx, dlq, record, expect)
	switch {
	case err == nil:
		return version, nil
	case errors.Is(err, meta.ErrReplaysChanged):
		return 0, fmt.Errorf("%w: %w", broker.ErrReplaysChanged, err)
	}
	return 0, metaError(err)
}

// DeleteDLQ purges a DLQ of the cluster: it is deleted as DELETE /topics
// deletes a topic of the cluster.
func (c *clusterBridge) DeleteDLQ(dlq string) error {
	return c.DeleteTopic(context.Background(), dlq)
}

// Coordinator is the node coordinating group: the leader of its shard.
// False while no leader is known, or while this node leads the shard but
// has not adopted its groups yet (UNAVAILABLE: retry).
func (c *clusterBridge) Coordinator(group string) (uint64, bool) {
	leader, ready := c.n.GroupShardLeader(groupstore.ShardOf(group))
	if leader == 0 || leader == c.n.ID() && !ready {
		return 0, false
	}
	return leader, true
}

// groupShards hands the groups of the shards this node leads to the
// broker's coordinator, and replicates their writes through the shards.
// epochs[i] is the epoch this node coordinates shard i under (0: it does
// not), and gens[i] its generations (floor, ceiling: groupstore.State's
// Generations, the ceiling as this node last raised it), guarded by mu.
type groupShards struct {
	n *node.Node // set once the node is open
	b *broker.Broker

	mu     sync.Mutex
	epochs [groupstore.Shards]uint64
	gens   [groupstore.Shards][2]int64
}

// inShard matches the groups of shard.
func inShard(shard int) func(string) bool {
	return func(group string) bool { return groupstore.ShardOf(group) == shard }
}

func (g *groupShards) LeadGroupShard(shard int, epoch uint64, st *groupstore.State) {
	stored, saved := st.Groups()
	for _, parts := range stored {
		for tp, o := range parts {
			o.Born = g.localBorn(tp.Topic, o.Born)
			parts[tp] = o
		}
	}
	floor, ceiling := st.Generations()
	g.mu.Lock()
	g.gens[shard] = [2]int64{floor, ceiling} // the groups adopted start at floor
	g.mu.Unlock()
	alive, active := st.Clocks()
	g.b.AdoptGroups(epoch, inShard(shard), stored, saved, st.ClassicMembers(), coordinator.Clocks{Alive: alive, Active: active})
	g.mu.Lock()
	g.epochs[shard] = epoch
	g.mu.Unlock()
}

func (g *groupShards) LoseGroupShard(shard int) {
	g.mu.Lock()
	g.epochs[shard] = 0
	g.mu.Unlock()
	g.b.DropGroups(inShard(shard))
}

func (g *groupShards) Epoch(group string) (uint64, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.epochs[groupstore.ShardOf(group)]
	return e, e != 0
}

func (g *groupShards) Generations(group string) (floor, ceiling int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gens := g.gens[groupstore.ShardOf(group)]
	return gens[0], gens[1]
}

// ReserveGenerations raises the ceiling of the group's shard a block
// (groupstore.GenerationBlock) past gen.
func (g *groupShards) ReserveGenerations(group string, epoch uint64, gen int64) (int64, error) {
	upTo := min(gen+groupstore.GenerationBlock, groupstore.MaxGeneration)
	if upTo < gen {
		return 0, api.ErrInternal.Withf("group %s: generation %d is past the largest, %d", group, gen, upTo)
	}
	if err := g.propose(groupstore.Command{Group: group, Epoch: epoch, Generations: &upTo}); err != nil {
		return 0, err
	}
	shard := groupstore.ShardOf(group)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.epochs[shard] == epoch {
		g.gens[shard][1] = max(g.gens[shard][1], upTo)
	}
	return upTo, nil
}

func (g *groupShards) WriteOffsets(group string, epoch uint64, ws []offsetstore.Write) error {
	out := make([]offsetstore.Write, len(ws))
	for i, w := range ws {
		w.Offset.Born = g.clusterBorn(w.TP.Topic, w.Offset.Born)
		out[i] = w
	}
	return g.propose(groupstore.Command{Group: group, Epoch: epoch, Offsets: out})
}

// A group's offsets name the topic they are of by its created_at (Born),
// which differs on every node: each creates its copy of a cluster topic
// when it applies the metadata. So the replicated offsets name a
// replicated topic by its topic ID instead (clusterBorn), and a node
// adopting them names it again by its own copy's created_at (localBorn).
// Offsets of a topic deleted and created again under its name then still
// differ from the new topic's, on every node. A replicated topic's DLQ is
// a topic of the cluster too (EnsureDLQ); topics local to one node keep
// their created_at.

// clusterBorn is born, the created_at of this node's copy of topic, as
// the replicated offsets name it: from the topic's ID, negative so that no
// created_at equals it.
func (g *groupShards) clusterBorn(topic string, born int64) int64 {
	t, ok := g.n.Placement(topic)
	if !ok || born == 0 {
		return born
	}
	if info, err := g.b.Topic(topic); err != nil || info.Config.CreatedAt != born {
		return born // not the copy of the metadata's topic: an older one
	}
	return idBorn(t.ID)
}

// localBorn is the inverse of clusterBorn on this node: the created_at of
// its copy of topic if born names the metadata's topic by that name (0,
// unknown, while this node has not created its copy yet: the group takes
// the copy's when it appears).
func (g *groupShards) localBorn(topic string, born int64) int64 {
	t, ok := g.n.Placement(topic)
	if !ok || born != idBorn(t.ID) {
		return born
	}
	if info, err := g.b.Topic(topic); err == nil {
		return info.Config.CreatedAt
	}
	return 0
}

// idBorn is a topic ID as a Born: negative, never 0.
func idBorn(id [16]byte) int64 {
	return -int64(binary.BigEndian.Uint64(id[:8])>>2) - 1
}

func (g *groupShards) SaveSettings(group string, epoch uint64, s groupstate.Saved) error {
	return g.propose(groupstore.Command{Group: group, Epoch: epoch, Settings: &s})
}

func (g *groupShards) SaveClassic(group string, epoch uint64, members []byte) error {
	return g.propose(groupstore.Command{Group: group, Epoch: epoch, Classic: &groupstore.Classic{Members: members}})
}

func (g *groupShards) DeleteGroup(group string, epoch, seq uint64) error {
	return g.propose(groupstore.Command{Group: group, Epoch: epoch, Delete: &seq})
}

func (g *groupShards) SaveActive(group string, epoch, seq uint64, at int64) error {
	return g.propose(groupstore.Command{Group: group, Epoch: epoch, Active: &groupstore.Active{Seq: seq, At: at}})
}

// SaveAlive keeps at in every shard this node leads, under the epoch it
// leads it in.
func (g *groupShards) SaveAlive(at int64) error {
	g.mu.Lock()
	epochs := g.epochs
	g.mu.Unlock()
	var err error
	for shard, epoch := range epochs {
		if epoch == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), groupWriteTimeout)
		perr := g.n.ProposeGroupState(ctx, shard, groupstore.Command{Epoch: epoch, Alive: &at})
		cancel()
		if perr != nil {
			err = errors.Join(err, g.shardError(fmt.Sprintf("of shard %d", shard), shard, perr, "its sweep time was not kept"))
		}
	}
	return err
}

// groupWriteTimeout bounds a group write: its shard needs a leader and a
// majority within it, else the member is answered UNAVAILABLE (and the
// write may still commit: the coordinator writes the group's offsets
// again with its next write, which an ack's retry is).
const groupWriteTimeout = 5 * time.Second

// Holds is Replicated.Holds: a topic of the metadata is held where its
// partition's replicas name this node, or this node mirrors the
// partition (node.Mirrors); any other topic is local.
func (g *groupShards) Holds(topic string, partition int32) bool {
	t, ok := g.n.Placement(topic)
	if !ok {
		return true
	}
	for _, p := range t.Partitions {
		if p.Index == partition {
			return slices.Contains(p.Replicas, g.n.ID()) || g.n.Mirrors(topic, partition)
		}
	}
	return false
}

// ReadPoint is Replicated.ReadPoint: node.ReadPartition for a topic of
// the metadata (a replica's ReadIndex, or a mirror's read point), nothing
// for one local to this node.
func (g *groupShards) ReadPoint(ctx context.Context, topic string, partition int32) error {
	if _, ok := g.n.Placement(topic); !ok {
		return nil
	}
	return readPoint(ctx, g.n, topic, partition)
}

// Confirm is Replicated.Confirm, through the group's shard.
func (g *groupShards) Confirm(ctx context.Context, group string, epoch uint64) error {
	shard := groupstore.ShardOf(group)
	err := g.n.ConfirmGroupShard(ctx, shard, epoch)
	var nl *multiraft.NotLeaderError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nl), errors.Is(err, multiraft.ErrStopped):
		return g.shardError(group, shard, err, "nothing was delivered")
	}
	// A read's failure has no outcome to be unknown: no majority
	// confirmed this node in time (ErrDropped, the deadline), often with
	// no change of coordinator at all.
	return api.ErrUnavailable.Withf("group %s: no majority confirmed its coordinator in time (%v); nothing was delivered, retry", group, err).WithDetail("group", group)
}

// propose replicates cmd through its group's shard.
func (g *groupShards) propose(cmd groupstore.Command) error {
	shard := groupstore.ShardOf(cmd.Group)
	ctx, cancel := context.WithTimeout(context.Background(), groupWriteTimeout)
	defer cancel()
	if err := g.n.ProposeGroupState(ctx, shard, cmd); err != nil {
		return g.shardError(cmd.Group, shard, err, "nothing was written")
	}
	return nil
}

// shardError says in the API's codes why shard did not take a write or
// confirm a read for group (then, says what it cost): NOT_COORDINATOR
// naming the shard's leader once this node no longer leads it,
// UNAVAILABLE while that is not known.
func (g *groupShards) shardError(group string, shard int, err error, then string) error {
	var nl *multiraft.NotLeaderError
	switch {
	case errors.As(err, &nl), errors.Is(err, groupstore.ErrFenced):
		leader, _ := g.n.GroupShardLeader(shard)
		if leader == 0 || leader == g.n.ID() {
			return api.ErrUnavailable.Withf("group %s's coordinator is changing; %s, retry", group, then).WithDetail("group", group)
		}
		e := api.ErrNotCoordinator.Withf("node %d no longer coordinates group %s; node %d does", g.n.ID(), group, leader).
			WithDetail("group", group).WithDetail("coordinator", leader)
		if addr := g.n.HTTPAddr(leader); addr != "" {
			e = e.WithDetail("coordinator_addr", addr)
		}
		return e
	case errors.Is(err, multiraft.ErrDropped):
		return api.ErrUnavailable.Withf("group %s's coordinator changed meanwhile; %s, retry", group, then).WithDetail("group", group)
	case errors.Is(err, multiraft.ErrStopped):
		return api.ErrUnavailable.Withf("this node is shutting down")
	}
	return api.ErrUnavailable.Withf("group %s: the outcome is unknown (%v); retry", group, err).WithDetail("group", group)
}
