package delivery

import (
	"strings"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// NackOptions says what to do with a failed message.
type NackOptions struct {
	Reject bool          // dead-letter at once (the wire's requeue:false)
	Delay  time.Duration // > 0: redeliver after Delay instead of the backoff
	Reason string        // kept as the message's last error
}

// Outcome is what a nack decided: a redelivery from RetryAt, or, with Dead,
// the dead letter the owner must write.
type Outcome struct {
	Dead    bool
	Letter  DeadLetter // when Dead
	RetryAt time.Time  // when not Dead
}

// Ack settles a message member holds in flight; the committed offset
// advances over the settled prefix. Any other message (never delivered,
// already settled, held by another member, released by a handoff, awaiting
// redelivery) gets api.ErrNotInFlight with a "state" detail and changes
// nothing.
func (g *Group) Ack(member string, tp TP, off int64) error {
	e, err := g.held(member, tp, off)
	if err != nil {
		return err
	}
	if e.state == leased {
		g.ackLeased(e, off)
		return nil
	}
	g.land(e)
	g.settle(e)
	return nil
}

// AckRange acknowledges the offsets [from, to) of tp, each as Ack would,
// in order, and returns the offset it stopped at: to when every one was
// acknowledged, else the first that Ack refuses, with Ack's error (the
// offsets before it are settled; the caller goes on after it). A run of
// offsets member holds through one lease, none of them settled or carved
// out, is settled in one step: the steady state of a consumer acks whole
// polls, and settles them without per-offset work.
func (g *Group) AckRange(member string, tp TP, from, to int64) (int64, error) {
	for off := from; off < to; {
		if n := g.ackLeasedRun(member, tp, off, to); n > 0 {
			off += n
			continue
		}
		if err := g.Ack(member, tp, off); err != nil {
			return off, err
		}
		off++
	}
	return to, nil
}

// Nack reports that member failed to process a message it holds. With
// Reject unset, the message is delivered again after Delay or the backoff
// (BackoffBase·2^(failures−1), at most BackoffMax), unless this was its
// failure MaxRetries+1; then, or with Reject, it becomes a dead letter
// pending the owner's DLQ write. Only failures spend the retry budget:
// deliveries lost to handoffs do not. Errors as for Ack.
func (g *Group) Nack(now time.Time, member string, tp TP, off int64, opt NackOptions) (Outcome, error) {
	e, err := g.heldAlone(member, tp, off)
	if err != nil {
		return Outcome{}, err
	}
	g.land(e)
	e.fails++
	e.lastErr = lastError(opt.Reason)
	switch {
	case opt.Reject:
		return g.bury(e, ReasonRejected), nil
	case e.fails >= g.cfg.maxFailures():
		return g.bury(e, ReasonMaxRetries), nil
	}
	delay := opt.Delay
	if delay <= 0 {
		delay = g.cfg.Backoff(e.fails)
	}
	g.wait(e, now.Add(delay))
	return Outcome{RetryAt: e.at}, nil
}

// lastError is what a message keeps of a nack's reason: what its dead
// letter can carry (api.CutReason), in memory of its own. The cut is
// cloned, since a substring would keep the whole text alive for as long as
// the message waits: a client nacking each message of its in-flight window
// with a body-sized reason would otherwise pin in-flight × body bytes.
func lastError(reason string) string {
	switch cut := api.CutReason(reason); {
	case reason == "":
		return LastErrorNack
	case len(cut) < len(reason):
		return strings.Clone(cut)
	default:
		return reason
	}
}

// Extend sets the visibility deadline of a message member holds to now+d
// (d ≤ 0: the group's visibility timeout). Errors as for Ack.
func (g *Group) Extend(now time.Time, member string, tp TP, off int64, d time.Duration) error {
	e, err := g.heldAlone(member, tp, off)
	if err != nil {
		return err
	}
	if d <= 0 {
		d = g.cfg.VisibilityTimeout
	}
	e.at = now.Add(d)
	g.expiry.fix(e)
	return nil
}

// Tick expires every in-flight message whose visibility deadline is not
// after now. An expiry is a failed delivery: the message is due again at
// once, or, if it was its failure MaxRetries+1, becomes a dead letter; Tick
// returns those, for the owner to write to the DLQ.
func (g *Group) Tick(now time.Time) []DeadLetter {
	var dead []DeadLetter
	for e := g.expiry.peek(); e != nil && !e.at.After(now); e = g.expiry.peek() {
		if e.state == leased {
			dead = g.expireLease(e, dead)
			continue
		}
		g.land(e)
		dead = g.expire(e, dead)
	}
	return dead
}

// expireLease expires the messages of l, first in the expiry heap. Dead
// letters must come out in heap order, as if each message had its own
// entry: when a timer sorts between two of l's messages, l is expanded and
// its messages take their places in the heap; else they expire here, in
// offset order, without passing through it.
func (g *Group) expireLease(l *entry, dead []DeadLetter) []DeadLetter {
	if next := g.expiry.second(); next != nil && next.at.Equal(l.at) && next.off < l.end {
		g.expand(l)
		return dead
	}
	p, live := l.p, l.live
	for off := p.unsettled(l.off); off < l.end && live > 0; off = p.unsettled(off + 1) {
		if p.entries[off] != nil {
			continue
		}
		live--
		e := g.newEntry(p, off)
		e.count = l.count
		e.at = l.at
		dead = g.expire(e, dead)
	}
	l.holder.inFlight -= l.live
	p.leased -= l.live
	g.unlease(l)
	return dead
}

// expire fails e, out of flight, by visibility timeout: it is due again at
// its deadline, or dead if that spent its retry budget; a dead letter is
// appended to dead.
func (g *Group) expire(e *entry, dead []DeadLetter) []DeadLetter {
	e.fails++
	e.lastErr = LastErrorVisibility
	if e.fails >= g.cfg.maxFailures() {
		return append(dead, g.bury(e, ReasonMaxRetries).Letter)
	}
	g.wait(e, e.at)
	return dead
}

// held returns the entry of a message member holds in flight, or the lease
// it is in flight through, or a coded error saying where the message stands.
func (g *Group) held(member string, tp TP, off int64) (*entry, error) {
	p := g.lookup(tp)
	if p == nil {
		return nil, notInFlight(tp, off, "not_delivered", "was never delivered to this group")
	}
	e := p.entries[off]
	if e == nil {
		e = p.leaseOf(off)
	}
	switch {
	case e == nil && p.settled(off):
		return nil, SettledError(tp, off)
	case e == nil:
		return nil, notInFlight(tp, off, "not_delivered", "was never delivered to this group")
	case (e.state == inFlight || e.state == leased) && e.holder.id != member:
		return nil, notInFlight(tp, off, "other_member", "is in flight for another member")
	case e.state != inFlight && e.state != leased:
		return nil, notInFlight(tp, off, e.state.String(), "is not in flight (handed off, nacked or expired)")
	}
	return e, nil
}

// heldAlone is held for a message whose fate is about to depart from its
// lease's: it returns the message's own entry, carved out of its lease if
// need be.
func (g *Group) heldAlone(member string, tp TP, off int64) (*entry, error) {
	e, err := g.held(member, tp, off)
	if err == nil && e.state == leased {
		e = g.carve(e, off)
	}
	return e, err
}

// SettledError is the refusal of a settle of tp's message at off, which
// is settled already.
func SettledError(tp TP, off int64) error {
	return notInFlight(tp, off, api.NotInFlightSettled, "is already settled")
}

func notInFlight(tp TP, off int64, state, what string) error {
	return api.ErrNotInFlight.Withf("%s/%d offset %d %s", tp.Topic, tp.Partition, off, what).WithDetail("state", state)
}

// wait makes e deliverable again from at.
func (g *Group) wait(e *entry, at time.Time) {
	e.state = waiting
	e.at = at
	e.p.waiting.push(e)
}

// settle removes e and marks its offset done.
func (g *Group) settle(e *entry) {
	p := e.p
	delete(p.entries, e.off)
	p.settle(e.off)
	g.recycle(e)
}
