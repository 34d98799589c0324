package delivery

import "time"

// Release hands off what member holds in flight on tp: every such message is
// deliverable to the partition's next owner at once. A release is not a
// failed delivery: the next delivery counts in DeliveryCount but spends none
// of the retry budget, so handoffs never bring a message closer to the DLQ.
// It returns how many messages it released. The owner calls it when the partition leaves member (revoked,
// left, session or rebalance timeout, fenced).
func (g *Group) Release(member string, tp TP) int {
	p, h := g.lookup(tp), g.members[member]
	if p == nil || h == nil {
		return 0
	}
	return g.release(p, h)
}

// ReleaseMember releases everything member holds, on every partition, and
// forgets the member. The owner calls it when a member leaves the group
// (left, session timeout, fenced) so that the group keeps no trace of it.
func (g *Group) ReleaseMember(member string) int {
	h := g.members[member]
	if h == nil {
		return 0
	}
	delete(g.members, member)
	n := 0
	for _, p := range g.parts {
		if h.inFlight == 0 {
			break
		}
		n += g.release(p, h)
	}
	return n
}

func (g *Group) release(p *partition, h *holder) int {
	g.expandHeld(p, h, p.next)
	n := 0
	for _, e := range p.entries {
		if e.state == inFlight && e.holder == h {
			g.land(e)
			g.wait(e, time.Time{})
			n++
		}
	}
	return n
}

// HandBack returns one message member holds in flight, unprocessed: it is
// deliverable again at once, to whoever polls its partition next, and like
// a release spends none of the retry budget. A member hands back what it
// cannot take (a poll's answer that crossed the release of the partition),
// so that the message need not wait out its visibility timeout. Errors as
// for Ack.
func (g *Group) HandBack(member string, tp TP, off int64) error {
	e, err := g.heldAlone(member, tp, off)
	if err != nil {
		return err
	}
	g.land(e)
	g.wait(e, time.Time{})
	return nil
}
