// Package delivery decides the fate of every message a consumer group reads:
// which messages a poll hands out, when an unacknowledged message is
// delivered again, when it is dead-lettered, and how far the group's committed
// offset may advance. It owns one group's per-partition, per-message delivery
// state and nothing else.
//
// It is pure: no I/O, no goroutines, no clock (methods that depend on time
// take now). Partition ownership (which member may poll which partition) and
// generation fencing belong to internal/group; reading records, writing the
// DLQ and persisting offsets belong to the caller, the broker.
//
// Ordering: on each partition, first deliveries are handed out in offset
// order. Messages due for redelivery (released by a handoff, nacked and past
// their backoff, or past their visibility timeout) are handed out before
// fresh messages of the same partition, in the order they became due
// (released messages first), ties in offset order. So a redelivery lands
// after later offsets have already been delivered: processing order across
// a retry is not preserved, as in SQS.
package delivery

import (
	"maps"
	"math"
	"slices"
	"time"
)

// Delivery is one message handed to a member by Poll. DeliveryCount counts
// every delivery of the message to the group, this one included: 1 on the
// first, one more on each redelivery, whether after a failure (nack or
// visibility timeout) or a handoff (the partition moved, the holder left or
// handed it back), so a consumer can tell a redelivery. The retry budget
// (MaxRetries) counts only failures, so DeliveryCount may exceed
// MaxRetries+1 when handoffs happened. It starts over after a Restore.
type Delivery struct {
	TP            TP
	Offset        int64
	DeliveryCount int
}

// Stats is a group's delivery state on one partition.
type Stats struct {
	Committed    int64 // next offset to deliver; every offset below is settled
	InFlight     int   // delivered and held by a member
	Waiting      int   // due for redelivery now or after a backoff
	DeadPending  int   // decided dead, awaiting the owner's DeadLettered
	Acked        int64 // settled offsets above Committed
	Redelivered  int64 // redeliveries (after a failure or a handoff) since NewGroup, across Restore
	DeadLettered int64 // confirmed dead letters since NewGroup, across Restore
}

// Group is one consumer group's delivery state over all its partitions. It
// is not safe for concurrent use: its owner serializes every call.
type Group struct {
	cfg     Config // immutable after NewGroup
	parts   map[TP]*partition
	expiry  timers             // in-flight entries and leases by visibility deadline
	members map[string]*holder // members that polled, until ReleaseMember
	last    *partition         // the partition looked up last, or nil
	free    []*entry           // recycled entries
}

// NewGroup returns an empty Group; zero fields of cfg take the defaults.
func NewGroup(cfg Config) *Group {
	return &Group{
		cfg:     cfg.Or(Defaults()),
		parts:   make(map[TP]*partition),
		members: make(map[string]*holder),
	}
}

// Config returns the group's effective configuration.
func (g *Group) Config() Config { return g.cfg }

// Has reports whether the group has state for tp. A partition gets state
// from Restore, or from the first Poll or Commit that names it (then starting
// at offset 0); the owner should Restore it first to apply its offset reset
// policy.
func (g *Group) Has(tp TP) bool { return g.lookup(tp) != nil }

// Partitions returns every partition the group has state for, sorted.
func (g *Group) Partitions() []TP {
	tps := slices.Collect(maps.Keys(g.parts))
	slices.SortFunc(tps, compareTP)
	return tps
}

func compareTP(a, b TP) int {
	switch {
	case a.Topic < b.Topic:
		return -1
	case a.Topic > b.Topic:
		return 1
	case a.Partition < b.Partition:
		return -1
	case a.Partition > b.Partition:
		return 1
	}
	return 0
}

// Restore replaces tp's state with a persisted one (see Snapshot): offsets
// below committed and in acked are settled and never delivered again; every
// other offset is delivered afresh, so what was in flight before a restart is
// delivered again. Delivery counts start over. Restore also resets a group's
// offset (e.g. offsets/reset on an empty group); the partition's counters
// of redeliveries and dead letters (Stats) go on counting, as counters
// exported as totals must.
func (g *Group) Restore(tp TP, committed int64, acked []Range) {
	counters := g.Stats(tp)
	if p := g.lookup(tp); p != nil {
		g.drop(p, math.MaxInt64)
	}
	g.last = nil
	p := newPartition(tp, committed)
	p.acked = newRangeSet(acked)
	p.committed = p.acked.advance(committed)
	p.next = p.committed
	g.parts[tp] = p
	g.RestoreCounters(tp, counters)
}

// RestoreCounters sets tp's counters of redeliveries and dead letters (see
// Stats) to those of s, for a state rebuilt from another (a group given
// new settings): exported as totals, they must not fall back. Nothing
// without state for tp.
func (g *Group) RestoreCounters(tp TP, s Stats) {
	if p := g.lookup(tp); p != nil {
		p.redelivered, p.deadLettered = s.Redelivered, s.DeadLettered
	}
}

// Snapshot returns what must be persisted for tp to survive a restart: the
// committed offset and the settled offsets above it. ok is false if the
// group has no state for tp.
func (g *Group) Snapshot(tp TP) (committed int64, acked []Range, ok bool) {
	p := g.lookup(tp)
	if p == nil {
		return 0, nil, false
	}
	return p.committed, p.acked.ranges(), true
}

// Committed returns tp's committed offset: the next offset to deliver, below
// which everything is settled. ok is false if the group has no state for tp.
func (g *Group) Committed(tp TP) (offset int64, ok bool) {
	p := g.lookup(tp)
	if p == nil {
		return 0, false
	}
	return p.committed, true
}

// Settled reports whether the message at off needs no further delivery
// (acknowledged, dead-lettered, or below the committed offset). The owner
// may use it to treat a double ack as harmless.
func (g *Group) Settled(tp TP, off int64) bool {
	p := g.lookup(tp)
	return p != nil && p.settled(off)
}

// Commit settles every offset of tp below offset, whatever its state, as a
// client's offset commit does; an offset at or below the committed one
// changes nothing. The owner also calls it when retention removed the
// group's next messages: Commit(tp, earliest).
func (g *Group) Commit(tp TP, offset int64) {
	p := g.part(tp)
	if offset <= p.committed {
		return
	}
	g.drop(p, offset)
	p.committed = p.acked.advance(offset)
	p.next = max(p.next, p.committed)
}

// Forget drops every state of tp (its topic was deleted).
func (g *Group) Forget(tp TP) {
	if p := g.lookup(tp); p != nil {
		g.drop(p, math.MaxInt64)
		delete(g.parts, tp)
		g.last = nil
	}
}

// Stats returns the group's delivery state on tp (zero if it has none).
func (g *Group) Stats(tp TP) Stats {
	p := g.lookup(tp)
	if p == nil {
		return Stats{}
	}
	return Stats{
		Committed:    p.committed,
		InFlight:     p.inFlight + p.leased,
		Waiting:      p.waiting.len(),
		DeadPending:  len(p.entries) - p.inFlight - p.waiting.len(),
		Acked:        p.acked.count(),
		Redelivered:  p.redelivered,
		DeadLettered: p.deadLettered,
	}
}

// InFlight returns how many messages member holds in flight.
func (g *Group) InFlight(member string) int {
	if h := g.members[member]; h != nil {
		return h.inFlight
	}
	return 0
}

// NextDeadline returns the earliest time at which a visibility timeout
// expires (Tick has work) or a message becomes due for redelivery (Poll may
// hand it out); a time not after now means "already". ok is false if
// nothing is timed. The owner uses it to schedule Tick and wake long polls.
func (g *Group) NextDeadline() (t time.Time, ok bool) {
	if e := g.expiry.peek(); e != nil {
		t, ok = e.at, true
	}
	for _, p := range g.parts {
		if e := p.waiting.peek(); e != nil && (!ok || e.at.Before(t)) {
			t, ok = e.at, true
		}
	}
	return t, ok
}

// NextExpiry returns the earliest visibility deadline of a message in
// flight, passed or not; ok is false if nothing is in flight. Unlike a due
// redelivery, which waits for a poll, a passed one is work for Tick: the
// owner must not let a due redelivery's place in NextDeadline hide it.
func (g *Group) NextExpiry() (t time.Time, ok bool) {
	if e := g.expiry.peek(); e != nil {
		return e.at, true
	}
	return time.Time{}, false
}

// lookup returns tp's state or nil. Acks come in runs on one partition, so
// it remembers the last partition and skips hashing the topic name.
func (g *Group) lookup(tp TP) *partition {
	if p := g.last; p != nil && p.tp == tp {
		return p
	}
	p := g.parts[tp]
	if p != nil {
		g.last = p
	}
	return p
}

// part returns tp's state, creating it at offset 0.
func (g *Group) part(tp TP) *partition {
	p := g.lookup(tp)
	if p == nil {
		p = newPartition(tp, 0)
		g.parts[tp] = p
	}
	return p
}

// drop discards every state of p's offsets below below, whatever it is.
func (g *Group) drop(p *partition, below int64) {
	g.expandHeld(p, nil, below)
	for off, e := range p.entries {
		if off >= below {
			continue
		}
		g.unhold(e)
		delete(p.entries, off)
		g.recycle(e)
	}
}

// unhold takes e out of the heap and counts its state names.
func (g *Group) unhold(e *entry) {
	switch e.state {
	case inFlight:
		g.land(e)
	case waiting:
		e.p.waiting.remove(e)
	}
}

// land ends e's flight: out of the expiry heap and its member's count. The
// caller sets its next state.
func (g *Group) land(e *entry) {
	g.expiry.remove(e)
	e.p.inFlight--
	e.holder.inFlight--
	e.holder = nil
}

// newEntry returns a new entry of the message at off of p.
func (g *Group) newEntry(p *partition, off int64) *entry {
	e := g.alloc()
	*e = entry{p: p, off: off, idx: -1}
	p.entries[off] = e
	return e
}

// alloc returns an entry to overwrite, recycled if one is free.
func (g *Group) alloc() *entry {
	if n := len(g.free); n > 0 {
		e := g.free[n-1]
		g.free = g.free[:n-1]
		return e
	}
	return new(entry)
}

func (g *Group) recycle(e *entry) {
	*e = entry{idx: -1}
	g.free = append(g.free, e)
}
