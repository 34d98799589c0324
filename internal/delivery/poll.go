package delivery

import "time"

// Poll hands member up to limit messages of the partitions it owns and
// appends them to dst. end returns a partition's high watermark (the offset
// after its last message). owned must not repeat a partition; the caller
// guarantees member owns them (internal/group decides that).
//
// Poll is fair: each owned partition first gets an equal share of limit, the
// partition served first rotating from call to call, then partitions with
// more messages fill what the others left. It hands out nothing once member
// holds MaxInFlightPerMember messages. Each message handed out is in flight
// for member until the visibility timeout, counted from now.
func (g *Group) Poll(dst []Delivery, now time.Time, member string, owned []TP, limit int, end func(TP) int64) []Delivery {
	return g.PollFitting(dst, now, member, owned, limit, end, nil)
}

// PollFitting is Poll with a gate: before a message goes in flight, fits
// (if not nil) is asked whether it may; a no ends the poll's take of that
// partition, the message staying where it was, and the poll goes on with
// the others. A caller bounding an answer's bytes says no to a message
// that might not fit, so nothing goes in flight that the answer cannot
// carry.
func (g *Group) PollFitting(dst []Delivery, now time.Time, member string, owned []TP, limit int, end func(TP) int64, fits func(TP, int64) bool) []Delivery {
	h := g.members[member]
	if h == nil {
		if limit <= 0 || len(owned) == 0 {
			return dst
		}
		h = &holder{id: member}
		g.members[member] = h
	}
	limit = min(limit, g.cfg.MaxInFlightPerMember-h.inFlight)
	if limit <= 0 || len(owned) == 0 {
		return dst
	}
	start := h.rotor % len(owned)
	h.rotor++
	share := max(limit/len(owned), 1)
	left := limit
	for pass := 0; pass < 2 && left > 0; pass++ {
		for i := 0; i < len(owned) && left > 0; i++ {
			var got int
			dst, got = g.take(dst, now, h, owned[(start+i)%len(owned)], min(share, left), end, fits)
			left -= got
		}
		share = left
	}
	return dst
}

// take appends up to k messages of tp to dst, due redeliveries first, and
// reports how many. It stops at the first message fits refuses.
func (g *Group) take(dst []Delivery, now time.Time, h *holder, tp TP, k int, end func(TP) int64, fits func(TP, int64) bool) ([]Delivery, int) {
	p := g.part(tp)
	n := 0
	for n < k {
		e := p.waiting.peek()
		if e == nil || e.at.After(now) {
			break
		}
		if fits != nil && !fits(tp, e.off) {
			return dst, n
		}
		p.waiting.remove(e)
		e.count++
		p.redelivered++
		g.fly(e, now, h)
		dst = append(dst, Delivery{TP: tp, Offset: e.off, DeliveryCount: e.count})
		n++
	}
	if n == k {
		return dst, n
	}
	// Fresh messages go in flight as one lease (see lease.go).
	hwm := end(tp)
	var l *entry
	for n < k {
		off := p.acked.after(p.next)
		p.next = off
		if off >= hwm || fits != nil && !fits(tp, off) {
			break
		}
		p.next++
		if l == nil {
			l = g.lease(p, off, now, h)
		}
		l.live++
		dst = append(dst, Delivery{TP: tp, Offset: off, DeliveryCount: 1})
		n++
	}
	if l != nil {
		l.end = dst[len(dst)-1].Offset + 1
		g.flyLease(l)
	}
	return dst, n
}

// fly puts e, a redelivery, in flight for h.
func (g *Group) fly(e *entry, now time.Time, h *holder) {
	e.state = inFlight
	e.holder = h
	h.inFlight++
	e.at = now.Add(g.cfg.VisibilityTimeout)
	e.p.inFlight++
	g.expiry.push(e)
}
