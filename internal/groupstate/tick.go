package groupstate

import (
	"container/heap"
	"time"
)

// Tick does what came due by now: it fences members whose session or
// rebalance timeout passed, expires messages past their visibility timeout
// (those out of retries become dead letters to write), hands out again the
// dead letters whose DLQ write failed once their backoff passed, and wakes
// the long polls for redeliveries come due. The caller calls it at
// Effects.Next (earlier is harmless).
func (a *Group) Tick(now time.Time) Effects {
	a.begin(nil)
	if at, ok := a.g.NextDeadline(); ok && !at.After(now) {
		a.g.Tick(now)
		a.afterOp()
	}
	a.retryDead(now)
	hidden := a.hints.drop(now)
	if at, ok := a.d.NextDeadline(); ok && !at.After(now) {
		a.bury(a.d.Tick(now))
		// Wake the polls once for what came due since the last look: the
		// earliest deadline, or one it hid.
		if at.After(a.looked) || hidden {
			a.wake()
		}
	}
	a.looked = now
	return a.end(now)
}

// nextDeadline returns when Tick has work next: a session or rebalance
// timeout, a dead-letter retry, or a delivery deadline; zero: none.
func (a *Group) nextDeadline(now time.Time) time.Time {
	next, ok := a.g.NextDeadline()
	earliest := func(t time.Time) {
		if !ok || t.Before(next) {
			next, ok = t, true
		}
	}
	if a.dead.failed {
		earliest(a.dead.retry)
	}
	if at, has := a.deliveryDeadline(now); has {
		earliest(at)
	}
	if !ok {
		return time.Time{}
	}
	return next
}

// deliveryDeadline returns when the delivery state next has work for Tick
// or news for a waiting poll: a visibility timeout (one passed: at once),
// or a redelivery coming due. A group without members has neither (nothing
// is in flight, nobody polls). delivery.Group reports one earliest
// deadline; once that is a redelivery already due (which only a poll
// takes), it hides the later ones, and the hints, rounded up, stand in for
// them.
func (a *Group) deliveryDeadline(now time.Time) (time.Time, bool) {
	if a.g.Empty() {
		a.hints = deadlines{}
		return time.Time{}, false
	}
	a.hints.drop(now)
	if at, ok := a.d.NextDeadline(); ok && at.After(now) {
		return at, true
	}
	// Not after now: a redelivery due, or a visibility timeout passed that
	// Tick has not expired yet. The latter is Tick's work now; left to
	// the hints, whose rounded-up copy of it may be dropped already, the
	// group would wait for its session deadlines, which heartbeats push on.
	if at, ok := a.d.NextExpiry(); ok && !at.After(now) {
		return at, true
	}
	return a.hints.min()
}

// hintGrain is how finely hints keep deadlines: a group polled many times a
// second keeps one hint per grain, and a hidden deadline is seen at most
// this late.
const hintGrain = 10 * time.Millisecond

// deadlines is a min-heap of deadlines handed out (visibility timeouts,
// extensions, nack retries), rounded up to hintGrain. Every delivery
// deadline still pending is one of them, so the earliest one not passed is
// a lower bound of the next: Tick runs at it, maybe early, never late by
// more than the grain.
type deadlines struct {
	h    timeHeap
	last time.Time // the last one added: repeats in a row are kept once
}

func (d *deadlines) add(t time.Time) {
	if r := t.Truncate(hintGrain); r.Before(t) {
		t = r.Add(hintGrain)
	} else {
		t = r
	}
	if t.Equal(d.last) {
		return
	}
	d.last = t
	heap.Push(&d.h, t)
}

// drop forgets the deadlines not after now and reports whether there were
// any.
func (d *deadlines) drop(now time.Time) bool {
	n := len(d.h)
	for len(d.h) > 0 && !d.h[0].After(now) {
		heap.Pop(&d.h)
	}
	return len(d.h) < n
}

func (d *deadlines) min() (time.Time, bool) {
	if len(d.h) == 0 {
		return time.Time{}, false
	}
	return d.h[0], true
}

type timeHeap []time.Time

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *timeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}
