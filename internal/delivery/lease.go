package delivery

import (
	"slices"
	"time"
)

// A poll hands out the fresh messages of a partition as one lease: the run
// of offsets [off, end) in flight for one holder until one deadline, with
// one delivery count. A message needs an entry of its own only when its
// fate departs from its lease's: nacked, handed back, extended, released,
// expired or dead-lettering. The lease then gives the message up (carve):
// the entry takes over with the lease's holder, count and deadline, so the
// message's history is exactly what it would have been with an entry from
// the start. An acknowledged message needs neither: the partition's acked
// ranges (or its committed offset) record it, and a leased offset is in
// flight exactly while it is neither settled nor in entries. So the steady
// state of a consumer that keeps up costs one lease per partition per poll,
// however many messages it carries.
//
// A lease's live counts the offsets still in flight through it; it is
// discarded when live reaches zero, so a member's leases never outnumber the
// messages it holds, which MaxInFlightPerMember bounds.

// lease starts a lease of p for h, from off, in flight until the visibility
// timeout counted from now. The caller sets end and live, then calls flyLease.
func (g *Group) lease(p *partition, off int64, now time.Time, h *holder) *entry {
	l := g.alloc()
	*l = entry{p: p, off: off, state: leased, holder: h, count: 1, at: now.Add(g.cfg.VisibilityTimeout), idx: -1}
	return l
}

// flyLease puts l, its end and live set, in flight.
func (g *Group) flyLease(l *entry) {
	p := l.p
	p.leases.push(l)
	p.leased += l.live
	l.holder.inFlight += l.live
	g.expiry.push(l)
}

// leaseOf returns the lease off is in flight through, or nil. The caller
// has checked that off has no entry.
func (p *partition) leaseOf(off int64) *entry {
	ls := p.leases.all()
	i := p.leaseIndex(off)
	if i == len(ls) || ls[i].off > off || p.settled(off) {
		return nil
	}
	return ls[i]
}

// leaseIndex returns the index of the first lease that ends after off.
// Acknowledgements come mostly in order, so the first lease is tried first.
func (p *partition) leaseIndex(off int64) int {
	ls := p.leases.all()
	if len(ls) == 0 || ls[0].end > off {
		return 0
	}
	lo, hi := 1, len(ls)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if ls[mid].end > off {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// ackLeased settles off, which is in flight through l.
func (g *Group) ackLeased(l *entry, off int64) {
	p := l.p
	l.live--
	p.leased--
	l.holder.inFlight--
	p.settle(off)
	if l.live == 0 {
		g.unlease(l)
	}
}

// ackLeasedRun settles the run of offsets from off, below to, that member
// holds in flight through one lease, if no offset of it is settled or has
// an entry, and returns its length; 0 when off starts no such run (Ack
// then decides about off alone). Offsets of a lease that are neither
// settled nor in entries are exactly its live ones, so the run's offsets
// leave the lease's live count at once.
func (g *Group) ackLeasedRun(member string, tp TP, off, to int64) int64 {
	p := g.lookup(tp)
	if p == nil || len(p.entries) > 0 || off < p.committed {
		return 0 // entries are the exceptions: let Ack look at each offset
	}
	ls := p.leases.all()
	i := p.leaseIndex(off)
	if i == len(ls) || ls[i].off > off || ls[i].holder.id != member {
		return 0
	}
	l := ls[i]
	end := min(to, l.end, p.acked.from(off))
	n := end - off
	if n <= 0 {
		return 0
	}
	l.live -= int(n)
	p.leased -= int(n)
	l.holder.inFlight -= int(n)
	p.settleRange(off, end)
	if l.live == 0 {
		g.unlease(l)
	}
	return n
}

// carve takes off, in flight through l, out of l into an entry of its own,
// in flight for the same holder until the same deadline, and returns it.
func (g *Group) carve(l *entry, off int64) *entry {
	p := l.p
	e := g.newEntry(p, off)
	e.state = inFlight
	e.holder = l.holder
	e.count = l.count
	e.at = l.at
	p.inFlight++
	g.expiry.push(e)
	l.live--
	p.leased--
	if l.live == 0 {
		g.unlease(l)
	}
	return e
}

// expand carves every offset still in flight through l, which then ends.
func (g *Group) expand(l *entry) {
	p, live, end := l.p, l.live, l.end
	for off := p.unsettled(l.off); off < end && live > 0; off = p.unsettled(off + 1) {
		if p.entries[off] != nil {
			continue
		}
		live--
		g.carve(l, off)
	}
}

// expandHeld expands every lease of p that holds an offset below below and,
// when h is not nil, is held by h.
func (g *Group) expandHeld(p *partition, h *holder, below int64) {
	for i := 0; i < len(p.leases.all()); {
		l := p.leases.all()[i]
		if l.off >= below {
			return
		}
		if h != nil && l.holder != h {
			i++
			continue
		}
		g.expand(l) // removes it from p.leases
	}
}

// unlease discards l, which holds nothing any more.
func (g *Group) unlease(l *entry) {
	g.expiry.remove(l)
	p := l.p
	p.leases.remove(p.leaseIndex(l.off))
	g.recycle(l)
}

// leaseList is a partition's leases, sorted by first offset and disjoint.
// Leases mostly end in the order they began, so removing the first costs
// O(1): it leaves room at the front of buf that a later push reclaims.
type leaseList struct {
	buf  []*entry // buf[:head] is nil
	head int
}

func (q *leaseList) all() []*entry { return q.buf[q.head:] }

// push appends l, which begins after every lease of q.
func (q *leaseList) push(l *entry) {
	if len(q.buf) == cap(q.buf) && q.head > 0 {
		live := q.buf[q.head:]
		if q.head < len(live) {
			// Mostly live: grow, as append would, leaving the front behind.
			q.buf = append(make([]*entry, 0, 2*cap(q.buf)), live...)
		} else {
			n := copy(q.buf, live)
			clear(q.buf[n:])
			q.buf = q.buf[:n]
		}
		q.head = 0
	}
	q.buf = append(q.buf, l)
}

// remove removes all()[i].
func (q *leaseList) remove(i int) {
	if i > 0 {
		q.buf = slices.Delete(q.buf, q.head+i, q.head+i+1)
		return
	}
	q.buf[q.head] = nil
	q.head++
	if q.head == len(q.buf) {
		q.buf, q.head = q.buf[:0], 0
	}
}
