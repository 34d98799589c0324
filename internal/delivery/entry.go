package delivery

import "time"

// state is where a delivered, unsettled message stands.
type state uint8

const (
	// inFlight: held by entry.member until entry.at (the visibility
	// deadline); the entry is in Group.expiry.
	inFlight state = iota + 1
	// waiting: deliverable again from entry.at (zero: at once); the entry is
	// in its partition's waiting heap.
	waiting
	// deadPending: the group decided to dead-letter it and waits for the
	// owner to confirm the DLQ write; the entry is in no heap.
	deadPending
	// leased: the entry is a lease, not a message (see lease.go): the run
	// [off, end) handed to holder by one poll, in flight until at; it is in
	// Group.expiry and its partition's leases, never in entries.
	leased
)

func (s state) String() string {
	switch s {
	case inFlight:
		return "in_flight"
	case waiting:
		return "awaiting_redelivery"
	case deadPending:
		return "dead_lettering"
	case leased:
		return "in_flight"
	}
	return "unknown"
}

// entry is one delivered message that is not settled (acknowledged or
// dead-lettered) yet and is an exception to the leases: nacked, expired,
// handed off, extended or dead-lettering. With state leased it is instead a
// lease of many messages (see lease.go); both kinds share one type so that
// one heap orders every visibility deadline. Entries are recycled through
// Group.free.
type entry struct {
	p       *partition
	off     int64 // leased: the lease's first offset
	end     int64 // leased only: the offset after its last
	live    int   // leased only: its offsets still in flight through it; ≥ 1
	state   state
	holder  *holder   // inFlight and leased only
	count   int       // deliveries so far, handoffs included; ≥ 1
	fails   int       // failed deliveries (nack, visibility timeout): the retry budget spent
	at      time.Time // inFlight, leased: visibility deadline; waiting: due time
	idx     int       // index in the heap the state names; -1 when in none
	lastErr string    // the last failure's reason, for the DLQ
	reason  string    // deadPending only: why it is dead
}

// holder counts what one member holds in flight. Entries point to it, so
// that settling a message needs no lookup by member ID.
type holder struct {
	id       string // immutable
	inFlight int
	rotor    int // rotates the partition this member's polls serve first
}

// before orders timers by time, then offset, then partition, so that equal
// inputs always give the same order. A lease sorts by its first offset,
// which is at most any of its messages': Tick, expanding a lease when it
// comes first, thus expires messages in the same order as if each had its
// own entry.
func before(a, b *entry) bool {
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	if a.off != b.off {
		return a.off < b.off
	}
	if a.p.tp.Topic != b.p.tp.Topic {
		return a.p.tp.Topic < b.p.tp.Topic
	}
	return a.p.tp.Partition < b.p.tp.Partition
}

// timers is a min-heap of entries by before; each entry knows its index, so
// removing or re-timing one is O(log n).
type timers struct {
	es []*entry
}

func (h *timers) len() int { return len(h.es) }

// peek returns the earliest entry, or nil.
func (h *timers) peek() *entry {
	if len(h.es) == 0 {
		return nil
	}
	return h.es[0]
}

// second returns the entry that peek would return after a pop, or nil.
func (h *timers) second() *entry {
	switch {
	case len(h.es) < 2:
		return nil
	case len(h.es) == 2 || before(h.es[1], h.es[2]):
		return h.es[1]
	}
	return h.es[2]
}

func (h *timers) push(e *entry) {
	e.idx = len(h.es)
	h.es = append(h.es, e)
	h.up(e.idx)
}

func (h *timers) remove(e *entry) {
	i, last := e.idx, len(h.es)-1
	if i != last {
		h.swap(i, last)
	}
	h.es[last] = nil
	h.es = h.es[:last]
	e.idx = -1
	if i != last {
		h.fix(h.es[i])
	}
}

// fix restores the heap after e.at changed.
func (h *timers) fix(e *entry) {
	if !h.down(e.idx) {
		h.up(e.idx)
	}
}

func (h *timers) swap(i, j int) {
	h.es[i], h.es[j] = h.es[j], h.es[i]
	h.es[i].idx = i
	h.es[j].idx = j
}

func (h *timers) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !before(h.es[i], h.es[parent]) {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

func (h *timers) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(h.es) {
			break
		}
		c := l
		if r := l + 1; r < len(h.es) && before(h.es[r], h.es[l]) {
			c = r
		}
		if !before(h.es[c], h.es[i]) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > start
}
