package groupstate

import (
	"time"

	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// Effects are what a command asks of the world. The caller performs them
// after releasing the group's lock, in this order of fields; a Group never
// waits for them, except that a dead letter stays pending until the caller
// reports its write (DeadLetterWritten or DeadLetterFailed).
type Effects struct {
	// Offsets to persist, in this order: a later write of a partition
	// supersedes an earlier one (the caller numbers them in this order
	// before releasing the lock, so that racing writers keep it).
	Offsets []OffsetWrite
	// DeadLetters to write to their topic's DLQ, then report each back.
	// None is handed out twice while its write is outstanding.
	DeadLetters []DeadLetter
	// Settings to save for the group (a creating join changed them).
	Settings *Saved
	// Wake: something may have become deliverable, or some member's
	// assignment may have changed; the group's long polls look again.
	Wake bool
	// Next is when the caller must call Tick next; zero: no deadline.
	Next time.Time
}

// OffsetWrite is one partition's delivery state to persist: its committed
// offset and the settled offsets above it, or, with Deleted, that the
// group no longer has state for it.
type OffsetWrite struct {
	TP        delivery.TP
	Committed int64
	Acked     []delivery.Range
	Deleted   bool
	Born      int64  // the created_at of the topic the state is of; 0: unknown (gone)
	Metadata  string // what a Kafka client committed with Committed (see Group.Metadata)
}

// persist queues tp's current state (or its deletion) for the store.
func (a *Group) persist(tp delivery.TP) {
	committed, acked, ok := a.d.Snapshot(tp)
	a.fx.Offsets = append(a.fx.Offsets, OffsetWrite{TP: tp, Committed: committed, Acked: acked, Deleted: !ok, Born: a.born[tp.Topic],
		Metadata: a.Metadata(tp)})
}

// wake asks the caller to wake the group's long polls.
func (a *Group) wake() { a.fx.Wake = true }

// begin starts a command that knows the topics of view (nil: only what the
// last SetTopics told).
func (a *Group) begin(view Topics) {
	a.fx = Effects{}
	for t, top := range view {
		if _, ok := a.born[t]; !ok {
			a.born[t] = top.Born
		}
	}
	a.arg = view
}

// lookup returns topic t as the command running knows it: from its
// argument, or else from the last SetTopics.
func (a *Group) lookup(t string) (Topic, bool) {
	if top, ok := a.arg[t]; ok {
		return top, true
	}
	top, ok := a.known[t]
	return top, ok
}

// counts returns the partition count of every topic the command knows.
func (a *Group) counts() map[string]int32 {
	out := make(map[string]int32, len(a.known)+len(a.arg))
	for _, ts := range []Topics{a.known, a.arg} {
		for t, top := range ts {
			out[t] = int32(len(top.Partitions))
		}
	}
	return out
}

// end finishes a command: it computes when the caller must tick next and
// hands over the effects collected.
func (a *Group) end(now time.Time) Effects {
	a.fx.Next = a.nextDeadline(now)
	fx := a.fx
	a.fx, a.arg = Effects{}, nil
	return fx
}
