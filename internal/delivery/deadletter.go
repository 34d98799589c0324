package delivery

import (
	"cmp"
	"slices"

	"github.com/abd-ulbasit/goqueue/api"
)

// Reasons a message is dead-lettered, for the DLQ's reason header.
const (
	ReasonRejected   = api.DLQReasonRejected   // nacked with requeue false
	ReasonMaxRetries = api.DLQReasonMaxRetries // its delivery MaxRetries+1 failed
)

// LastErrorVisibility is a message's last error when its last delivery
// failed by visibility timeout; LastErrorNack when a nack gave no reason.
const (
	LastErrorVisibility = "visibility_timeout"
	LastErrorNack       = "nacked"
)

// DeadLetter is a message the group decided to dead-letter. The owner writes
// it to <topic>.dlq with these fields as disposition headers, then confirms
// with DeadLettered; until then it is neither delivered nor committed.
type DeadLetter struct {
	TP            TP
	Offset        int64
	DeliveryCount int
	Reason        string // ReasonRejected or ReasonMaxRetries
	LastError     string // the last nack's reason, or LastErrorVisibility
}

// DeadLettered confirms that the owner wrote a dead letter of tp to the DLQ;
// the message is settled as if acknowledged. An offset that is not a pending
// dead letter gets api.ErrNotInFlight.
func (g *Group) DeadLettered(tp TP, off int64) error {
	p := g.lookup(tp)
	var e *entry
	if p != nil {
		e = p.entries[off]
	}
	if e == nil || e.state != deadPending {
		return api.ErrNotInFlight.Withf("%s/%d offset %d is not a pending dead letter", tp.Topic, tp.Partition, off)
	}
	p.deadLettered++
	g.settle(e)
	return nil
}

// Dead returns every pending dead letter, in partition and offset order, so
// that an owner whose DLQ write failed can retry it.
func (g *Group) Dead() []DeadLetter {
	var dead []DeadLetter
	for _, p := range g.parts {
		for _, e := range p.entries {
			if e.state == deadPending {
				dead = append(dead, e.letter())
			}
		}
	}
	slices.SortFunc(dead, func(a, b DeadLetter) int {
		if c := compareTP(a.TP, b.TP); c != 0 {
			return c
		}
		return cmp.Compare(a.Offset, b.Offset)
	})
	return dead
}

// bury makes e a dead letter pending the owner's confirmation.
func (g *Group) bury(e *entry, reason string) Outcome {
	e.state = deadPending
	e.reason = reason
	return Outcome{Dead: true, Letter: e.letter()}
}

func (e *entry) letter() DeadLetter {
	return DeadLetter{TP: e.p.tp, Offset: e.off, DeliveryCount: e.count, Reason: e.reason, LastError: e.lastErr}
}
