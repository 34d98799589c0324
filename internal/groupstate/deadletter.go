package groupstate

import (
	"time"

	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// The DLQ retry backoff of a group whose dead-letter write failed.
const (
	DeadBackoffMin = time.Second
	DeadBackoffMax = time.Minute
)

// deadLetters is the state of the group's DLQ writes.
type deadLetters struct {
	writing map[deadKey]bool // handed out in Effects, not yet reported back
	failed  bool             // a write failed since the last retry: Tick hands the pending ones out again at retry
	retry   time.Time        // with failed: when
	backoff time.Duration    // the wait before retry, doubling from DeadBackoffMin to DeadBackoffMax; 0: no failure in a row
}

type deadKey struct {
	tp  delivery.TP
	off int64
}

// bury hands out dead letters the delivery state decided, to be written.
func (a *Group) bury(dls []delivery.DeadLetter) {
	for _, dl := range dls {
		a.dead.writing[deadKey{dl.TP, dl.Offset}] = true
		a.fx.DeadLetters = append(a.fx.DeadLetters, dl)
	}
}

// DeadLetterWritten reports that the caller wrote a dead letter to the DLQ
// (or found nothing to keep: its topic or record gone): it is settled as if
// acknowledged, and the partition's offsets are to be persisted. A letter
// that is no longer pending (its partition forgotten meanwhile) changes
// nothing; the error says so (MESSAGE_NOT_IN_FLIGHT).
func (a *Group) DeadLetterWritten(now time.Time, tp delivery.TP, off int64) (Effects, error) {
	a.begin(nil)
	delete(a.dead.writing, deadKey{tp, off})
	err := a.d.DeadLettered(tp, off)
	if err == nil {
		a.persist(tp)
		a.wake() // the committed offset may have moved past it
	}
	if len(a.dead.writing) == 0 && !a.dead.failed {
		a.dead.backoff = 0
	}
	return a.end(now), err
}

// DeadLetterFailed reports that the caller could not write a dead letter
// now: it stays pending (neither delivered nor committed), and Tick hands
// it out again after a backoff that doubles while writes keep failing.
func (a *Group) DeadLetterFailed(now time.Time, tp delivery.TP, off int64) Effects {
	a.begin(nil)
	delete(a.dead.writing, deadKey{tp, off})
	if !a.dead.failed {
		a.dead.failed = true
		a.dead.backoff = min(max(2*a.dead.backoff, DeadBackoffMin), DeadBackoffMax)
		a.dead.retry = now.Add(a.dead.backoff)
	}
	return a.end(now)
}

// retryDead hands out again, once the backoff passed, every pending dead
// letter whose write is not outstanding.
func (a *Group) retryDead(now time.Time) {
	if !a.dead.failed || now.Before(a.dead.retry) {
		return
	}
	a.dead.failed, a.dead.retry = false, time.Time{}
	var again []delivery.DeadLetter
	for _, dl := range a.d.Dead() {
		if !a.dead.writing[deadKey{dl.TP, dl.Offset}] {
			again = append(again, dl)
		}
	}
	a.bury(again)
}
