package coordinator

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// In a cluster the groups' durable state (committed offsets, acknowledged
// ranges, saved settings) is replicated rather than kept in offsets.db and
// meta.db, and a node coordinates only the groups whose replicated state
// it leads. The coordinator stays ignorant of how: Replicate hands it a
// Replicated, Adopt gives it the groups it now leads as they were last
// stored, Drop takes them away when it stops leading. Each adopted (or
// created) group carries the epoch it is coordinated under, and every
// write of it names that epoch, so the writes of a group dropped, still in
// progress in some request, are refused once another node has claimed the
// group: a deposed coordinator acknowledges nothing. What a dropped group
// had in flight is not replicated: its next coordinator delivers it again.

// Replicated keeps the durable state of the groups a cluster node
// coordinates. Its methods return once the change is replicated (a
// majority has it) or with an *api.Error saying why not (the node no
// longer coordinates the group: NOT_COORDINATOR or UNAVAILABLE).
type Replicated interface {
	// Epoch is the epoch under which this node coordinates group now;
	// false if it does not (a group is then not created here).
	Epoch(group string) (uint64, bool)
	WriteOffsets(group string, epoch uint64, ws []offsetstore.Write) error
	SaveSettings(group string, epoch uint64, s groupstate.Saved) error
	// SaveClassic replaces the group's classic Kafka membership (empty:
	// none; see SaveClassicMembers).
	SaveClassic(group string, epoch uint64, members []byte) error
	// DeleteGroup forgets the group's settings and the offsets written
	// before (epoch, seq).
	DeleteGroup(group string, epoch, seq uint64) error
	// Generations returns, for a group this node coordinates, the
	// generation its groups start at (floor: past every generation its
	// earlier coordinators handed out) and how far this node may hand
	// out its generations (ceiling) before ReserveGenerations.
	Generations(group string) (floor, ceiling int64)
	// ReserveGenerations raises the ceiling of the generations this node
	// may hand out for group, under epoch, to gen or above, and returns
	// the new ceiling, once a majority has it.
	ReserveGenerations(group string, epoch uint64, gen int64) (int64, error)
	// Confirm returns once a majority has confirmed, after the call, that
	// this node coordinates group under epoch, or with why not (as the
	// writes). A poll confirms after it takes its messages and before it
	// answers: a coordinator deposed without knowing it yet (cut off from
	// the others, or paused) still holds its groups, and handed out
	// messages its successor's members had acknowledged meanwhile.
	Confirm(ctx context.Context, group string, epoch uint64) error
	// Holds reports whether this node holds a copy of a partition (a
	// replica or a mirror of it, or a topic local to this node); a node
	// that does not keeps an empty log in its place.
	Holds(topic string, partition int32) bool
	// SaveActive keeps when group was last in use (at, unix ms), taken
	// at seq (offsetstore.Store.Next), for the offsets retention
	// (groupexpiry.go): not kept past the group's deletion.
	SaveActive(group string, epoch, seq uint64, at int64) error
	// SaveAlive keeps, for the groups this node coordinates, when it
	// last swept them (unix ms): the next coordinator tells from it how
	// long they had none (see Clocks).
	SaveAlive(at int64) error
	// ReadPoint waits until this node's copy of a partition (a replica's
	// or a mirror's; nil at once for a topic local to this node) reflects
	// every write acknowledged before the call, as a read of it from its
	// leader would: an operator's reset reads its bounds. Errors are
	// *api.Error (UNAVAILABLE: retry).
	ReadPoint(ctx context.Context, topic string, partition int32) error
}

// confirm is Replicated.Confirm for a poll of cg that took messages (see
// there); nothing to confirm on a single broker. The poll's context may
// end meanwhile and the poll must still answer what it took: a stream
// cancels its poll to ask again with more credit, which did not cost it
// the messages the poll held before (Confirm bounds its own wait).
func (c *Coordinator) confirm(ctx context.Context, cg *cgroup) error {
	if c.repl == nil {
		return nil
	}
	return c.repl.Confirm(context.WithoutCancel(ctx), cg.id, cg.epoch)
}

// copyCatchUp bounds how long a Kafka commit past this node's copy of a
// partition waits for the copy to hold it (AwaitCopies).
const copyCatchUp = 2 * time.Second

// AwaitCopies waits, on a cluster node, until this node's copy of each
// partition of offsets it holds a copy of holds the offset committed for
// it, or copyCatchUp passes, or ctx ends; a commit's check then refuses
// what is still past its copy. A coordinator may follow a partition's
// leader, whose writes reach its copy a moment later, and a consumer
// commits what it has just read from the leader: 32 and 66 of 200 such
// commits were refused before it waited. A front end waits before it
// checks the committing member, so that the wait widens no gap between
// that check and the commit.
func (c *Coordinator) AwaitCopies(ctx context.Context, offsets Offsets) {
	if c.repl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, copyCatchUp)
	defer cancel()
	for t, parts := range offsets {
		for p, off := range parts {
			if !c.repl.Holds(t, p) {
				continue
			}
			l, err := c.b.Partition(t, p)
			if err != nil || off <= l.HighWatermark() {
				continue
			}
			if l.Wait(ctx, off-1) != nil && ctx.Err() != nil {
				return // out of time: the check says what is refused
			}
		}
	}
}

// unbounded reports whether a Kafka commit of tp is bounded by nothing
// here: on a cluster node that holds no copy of tp (no replica, and its
// mirror not started yet), whose empty log in its place has no high
// watermark to bound it.
func (c *Coordinator) unbounded(tp delivery.TP) bool {
	return c.repl != nil && !c.repl.Holds(tp.Topic, tp.Partition)
}

// groupKey names a group to groupIO: its ID and the epoch of the group
// object the effects come from (0 on a single broker).
type groupKey struct {
	id    string
	epoch uint64
}

func (cg *cgroup) key() groupKey { return groupKey{cg.id, cg.epoch} }

// Replicate makes the coordinator keep its groups' state in r: it
// forgets the groups restored from this node's own files (their state is
// r's now) and coordinates only those given by Adopt or created while r
// names an epoch for them. Call it before Run.
func (c *Coordinator) Replicate(r Replicated) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.repl = r
	c.io = replicatedIO{brokerIO{c}, r}
	for id, cg := range c.groups {
		c.dropLocked(id, cg)
	}
}

// Adopt starts coordinating, under epoch, the groups that match owns, as
// stored and saved last (the shapes of a single broker's restore): any
// group of those this node still holds (from an earlier epoch) is dropped
// first, so nothing of its in-memory state survives. Members rejoin, but
// classic Kafka members, whose membership (classic) the front end takes
// back (AdoptedClassicMembers); messages that were in flight are
// delivered again.
func (c *Coordinator) Adopt(epoch uint64, owns func(group string) bool, stored map[string]map[delivery.TP]offsetstore.Offset, saved map[string]groupstate.Saved, classic map[string][]byte, clocks Clocks) {
	c.Drop(owns)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restoreGroupsLocked(epoch, stored, saved, clocks)
	if c.adoptedClassic == nil {
		c.adoptedClassic = map[string][]byte{}
	}
	for id, members := range classic {
		if owns(id) {
			c.adoptedClassic[id] = members
		}
	}
	// They learn the topics from the timer loop, as groups restored at
	// Open do when it starts: until then they deliver nothing.
	c.resync.Store(true)
	c.wake()
}

// Drop stops coordinating the groups that match owns. A request already
// holding one may still run on it; its writes are refused (fenced).
func (c *Coordinator) Drop(owns func(group string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, cg := range c.groups {
		if owns(id) {
			c.dropLocked(id, cg)
		}
	}
	for id := range c.adoptedClassic {
		if owns(id) {
			delete(c.adoptedClassic, id)
		}
	}
}

// dropLocked forgets cg: no timer ticks it again and its long polls wake
// (to find it gone on their next look). The caller holds c.mu.
func (c *Coordinator) dropLocked(id string, cg *cgroup) {
	delete(c.groups, id)
	cg.mu.Lock()
	cg.dropped = true
	close(cg.ready)
	cg.ready = make(chan struct{})
	cg.mu.Unlock()
	c.schedMu.Lock()
	delete(c.sched, cg)
	c.schedMu.Unlock()
}

// restoreGroupsLocked creates the groups of stored (partitions) and saved
// (settings) under epoch, replacing any of the same name, their
// retention clocks restored from clocks. The caller holds c.mu.
func (c *Coordinator) restoreGroupsLocked(epoch uint64, stored map[string]map[delivery.TP]offsetstore.Offset, saved map[string]groupstate.Saved, clocks Clocks) {
	for id, set := range saved {
		if _, ok := stored[id]; !ok {
			cg := c.newGroup(id) // settings but no offsets yet: the group still exists
			cg.epoch = epoch
			c.restoreClockLocked(cg, clocks)
			cg.a.RestoreSettings(set)
			c.goOnLocked(cg)
			c.groups[id] = cg
		}
	}
	for id, parts := range stored {
		cg := c.newGroup(id)
		cg.epoch = epoch
		c.restoreClockLocked(cg, clocks)
		cg.a.RestoreSettings(saved[id])
		for _, tp := range slices.SortedFunc(maps.Keys(parts), compareTP) {
			so := parts[tp]
			cg.a.Restore(tp, so.Committed, so.Acked, so.Born, so.Metadata)
			cg.wroteLocked(offsetstore.Write{TP: tp, Offset: offsetstore.Offset{Committed: so.Committed, Metadata: so.Metadata}})
		}
		c.goOnLocked(cg)
		c.groups[id] = cg
	}
}

// goOnLocked starts a restored group's generations after the last its
// rebalance history kept (on this node): a restart does not take them
// back to 1, nor list a rebalance of a lower generation above higher ones
// in GET /groups/{id}/rebalances. On a cluster node they start past the
// replicated floor too (Replicated.Generations): past every generation
// the group's earlier coordinators handed out, so that no member holds a
// generation this node hands out again, and a request still carrying one
// of theirs (a zombie's, or one the client sent again) is refused as
// stale, whatever its member ID. The caller holds c.mu; cg is not yet
// shared.
func (c *Coordinator) goOnLocked(cg *cgroup) {
	var last int64
	for _, r := range c.hist.rebalances.Group(cg.id) {
		last = max(last, r.Generation)
	}
	if c.repl != nil {
		var floor int64
		floor, cg.ceiling = c.repl.Generations(cg.id)
		last = max(last, floor)
	}
	if last == 0 {
		return
	}
	cg.a.GoOnFrom(last)
	cg.recorded = last
	cg.logged = groupLog{state: cg.a.State(), gen: cg.a.Generation()}
}

// newGroupLocked is a group created by its first join (or offsets reset):
// on a cluster node, under the epoch this node coordinates it in, if it
// does. The caller holds c.mu.
func (c *Coordinator) newGroupLocked(id string) (*cgroup, error) {
	cg := c.newGroup(id)
	if c.repl != nil {
		epoch, ok := c.repl.Epoch(id)
		if !ok {
			return nil, api.ErrUnavailable.Withf("this node does not coordinate group %s now (its coordinator is changing); retry", id).WithDetail("group", id)
		}
		cg.epoch = epoch
		c.goOnLocked(cg)
	}
	return cg, nil
}

// reserve raises, before an answer that tells a member its generation,
// the ceiling of the generations this node may hand out (see
// Replicated.ReserveGenerations) if cg's generation passed it, as the
// command whose effects p are found (doneLocked): so no generation a
// member holds was handed out above the ceiling the group's next
// coordinator starts past. A block is reserved at a time (the
// implementation's), so this writes once per so many rebalances, not once
// each. Called with no lock held; nothing to do on a single broker.
func (c *Coordinator) reserve(cg *cgroup, p *pending) error {
	gen := p.reserve
	if gen == 0 {
		return nil
	}
	p.reserve = 0
	ceiling, err := c.repl.ReserveGenerations(cg.id, cg.epoch, gen)
	if err != nil {
		return err
	}
	cg.mu.Lock()
	cg.ceiling = max(cg.ceiling, ceiling)
	cg.mu.Unlock()
	return nil
}

// reserveAside is reserve for a command that answers no generation (a
// poll, an ack, the timer loop): it leaves the reservation to one already
// in progress for the generation, so that the commands of a busy group
// crossing its ceiling write it once, not once each.
func (c *Coordinator) reserveAside(cg *cgroup, p *pending) error {
	gen := p.reserve
	if gen == 0 {
		return nil
	}
	cg.mu.Lock()
	mine := gen > cg.reserving
	if mine {
		cg.reserving = gen
	}
	cg.mu.Unlock()
	if !mine {
		p.reserve = 0
		return nil
	}
	err := c.reserve(cg, p)
	if err != nil {
		cg.mu.Lock()
		cg.reserving = min(cg.reserving, cg.ceiling) // the next command tries again
		cg.mu.Unlock()
	}
	return err
}

// replicatedIO is a cluster node's groupIO: the broker's logs and DLQs as
// brokerIO reaches them, the groups' durable state through Replicated.
type replicatedIO struct {
	brokerIO
	r Replicated
}

func (io replicatedIO) writeOffsets(g groupKey, ws []offsetstore.Write) error {
	return io.r.WriteOffsets(g.id, g.epoch, ws)
}

func (io replicatedIO) saveSettings(g groupKey, s groupstate.Saved) error {
	return io.r.SaveSettings(g.id, g.epoch, s)
}

// saveClocks writes a mark at a time, and stops at the first that fails
// (each may wait a proposal's timeout): the sweep keeps the others next
// time.
func (io replicatedIO) saveClocks(alive int64, marks []activeMark) ([]bool, error) {
	var err error
	if alive != 0 {
		err = io.r.SaveAlive(alive)
	}
	kept := make([]bool, len(marks))
	for i, m := range marks {
		if merr := io.r.SaveActive(m.g.id, m.g.epoch, m.seq, m.at); merr != nil {
			return kept, errors.Join(err, merr)
		}
		kept[i] = true
	}
	return kept, err
}

func (io replicatedIO) deleteGroup(g groupKey) error {
	return io.r.DeleteGroup(g.id, g.epoch, io.c.store.Next())
}
