package groupstate

import (
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// The DLQ retry backoff of a group whose dead-letter write failed.
const (
	DeadBackoffMin = time.Second
	DeadBackoffMax = time.Minute
)

// DeadLetter is a dead letter to write: the message at TP/Offset of the
// topic created at Born (the caller writes nothing, and reports the letter
// written, if the topic by that name now is another one: the message is
// gone with its topic). Seq numbers the hand-out: a report of it is stale
// once the group no longer awaits that hand-out, so that it cannot settle
// the letter of a later death of the same message (the partition's state
// was reset or forgotten, or the delivery state rebuilt, since).
type DeadLetter struct {
	delivery.DeadLetter
	Born int64
	Seq  uint64
}

// deadLetters is the state of the group's DLQ writes.
type deadLetters struct {
	seq     uint64             // the last hand-out's DeadLetter.Seq; never reused
	writing map[deadKey]uint64 // handed out in Effects, not yet reported back: the Seq awaited
	failed  bool               // a write failed since the last retry: Tick hands the pending ones out again at retry
	retry   time.Time          // with failed: when
	backoff time.Duration      // the wait before retry, doubling from DeadBackoffMin to DeadBackoffMax; 0: no failure in a row
}

type deadKey struct {
	tp  delivery.TP
	off int64
}

// newDeadLetters starts the DLQ state of a delivery state, numbering its
// hand-outs after seq, the last of the state it replaces.
func newDeadLetters(seq uint64) deadLetters {
	return deadLetters{seq: seq, writing: make(map[deadKey]uint64)}
}

// bury hands out dead letters the delivery state decided, to be written.
func (a *Group) bury(dls []delivery.DeadLetter) {
	for _, dl := range dls {
		a.dead.seq++
		a.dead.writing[deadKey{dl.TP, dl.Offset}] = a.dead.seq
		a.fx.DeadLetters = append(a.fx.DeadLetters, DeadLetter{DeadLetter: dl, Born: a.born[dl.TP.Topic], Seq: a.dead.seq})
	}
}

// forget drops every state of tp (its topic is gone, or its offsets are
// deleted), persisting the deletion. Dead letters of tp whose writes are
// outstanding are no longer awaited: their reports are stale.
func (a *Group) forget(tp delivery.TP) {
	a.d.Forget(tp)
	delete(a.meta, tp)
	a.persist(tp)
	a.unawait(tp)
}

// unawait forgets the outstanding dead-letter writes of tp, whose state was
// replaced or dropped.
func (a *Group) unawait(tp delivery.TP) {
	for k := range a.dead.writing {
		if k.tp == tp {
			delete(a.dead.writing, k)
		}
	}
}

// stale reports whether dl, handed out earlier, is no longer awaited: its
// partition was reset or forgotten since (its offsets moved or deleted,
// its topic deleted or created again), or the delivery state rebuilt, so
// that a report of it must not settle a dead letter of the same offset
// decided since, which is another hand-out.
func (a *Group) stale(dl DeadLetter) bool {
	seq, ok := a.dead.writing[deadKey{dl.TP, dl.Offset}]
	return !ok || seq != dl.Seq || dl.Born != a.born[dl.TP.Topic]
}

// DeadLetterWritten reports that the caller wrote dl to the DLQ (or found
// nothing to keep: its topic or record gone): it is settled as if
// acknowledged, and the partition's offsets are to be persisted. A stale
// report (see DeadLetterFailed) changes nothing: MESSAGE_NOT_IN_FLIGHT.
func (a *Group) DeadLetterWritten(now time.Time, dl DeadLetter) (Effects, error) {
	a.begin(nil)
	err := a.deadWritten(dl)
	if len(a.dead.writing) == 0 && !a.dead.failed {
		a.dead.backoff = 0
	}
	return a.end(now), err
}

func (a *Group) deadWritten(dl DeadLetter) error {
	if a.stale(dl) {
		return api.ErrNotInFlight.Withf("%s/%d offset %d is not a dead letter being written", dl.TP.Topic, dl.TP.Partition, dl.Offset)
	}
	delete(a.dead.writing, deadKey{dl.TP, dl.Offset})
	if err := a.d.DeadLettered(dl.TP, dl.Offset); err != nil {
		return err
	}
	a.persist(dl.TP)
	a.wake() // the committed offset may have moved past it
	return nil
}

// DeadLetterFailed reports that the caller could not write dl now: it stays
// pending (neither delivered nor committed), and Tick hands it out again
// after a backoff that doubles while writes keep failing. A report of a
// letter whose partition was forgotten since it was handed out is stale and
// changes nothing.
func (a *Group) DeadLetterFailed(now time.Time, dl DeadLetter) Effects {
	a.begin(nil)
	if !a.stale(dl) {
		delete(a.dead.writing, deadKey{dl.TP, dl.Offset})
		if !a.dead.failed {
			a.dead.failed = true
			a.dead.backoff = min(max(2*a.dead.backoff, DeadBackoffMin), DeadBackoffMax)
			a.dead.retry = now.Add(a.dead.backoff)
		}
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
		if _, ok := a.dead.writing[deadKey{dl.TP, dl.Offset}]; !ok {
			again = append(again, dl)
		}
	}
	a.bury(again)
}
