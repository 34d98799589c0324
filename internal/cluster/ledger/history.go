// Package ledger checks a recorded history of a cluster test in the style
// of Jepsen's Kafka tests: publish attempts with their outcome, what
// readers (plain fetches and group consumers) read at which offsets,
// the high watermarks they saw, and the committed offsets of groups. From
// that alone it finds acknowledged writes lost, one offset holding two
// values, gaps, reads out of order within one consumer session, committed
// offsets going backwards, values read that nobody published, a value
// written at two offsets, stale high watermarks and messages a group
// committed past without reading.
//
// It owns no state beyond one History and does no I/O: a test records
// operations (History's methods are safe from many goroutines) and calls
// Check at the end.
//
// Why a ledger rather than porcupine: a partition is an append-only log in
// which every acknowledged publish names its offset, so the order a
// linearization must choose is already fixed by the offsets. What remains of
// linearizability for publish and read-at-offset is exactly what Check
// tests: one value per offset (Conflict), reads consistent with the acks
// (Lost, WrongOffset), no holes in the prefix (Gap), and real time (a read
// that starts after an acknowledgement completed sees its offset below the
// high watermark: StaleRead). A porcupine search over the same history
// would explore no choices and report less (one bit, no offending value).
package ledger

import (
	"sync"
	"time"
)

// Outcome is what a publisher learnt of one publish attempt.
type Outcome uint8

// Outcomes of a publish.
const (
	// Acked: the broker answered with the offset the value was written at.
	Acked Outcome = iota + 1
	// Failed: the broker refused it before writing anything (NOT_LEADER,
	// a refused connection): it must not be read.
	Failed
	// Unknown: no answer (timeout, connection cut mid-request): it may or
	// may not have been written.
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case Acked:
		return "acked"
	case Failed:
		return "failed"
	case Unknown:
		return "unknown"
	}
	return "outcome?"
}

// Publish is one publish attempt of one value to one partition. Values are
// unique per attempt: the publisher never sends the same value twice.
type Publish struct {
	Value     string
	Partition int32
	Outcome   Outcome
	Offset    int64 // where it was written, if Acked
	// Start and End bound the attempt in real time (End is when the answer
	// came). Zero times leave the attempt out of the real-time check.
	Start, End time.Time
}

// Read is one message a reader read.
type Read struct {
	// Reader names the reading process ("fetch", "consumer 2"); Session
	// names its stream of reads within which offsets only go forward (a
	// group member's ID: a new session may start over from the committed
	// offset). Group is the consumer group, "" for plain fetches.
	Reader, Session, Group string
	Partition              int32
	Offset                 int64
	Value                  string
	// Redelivery marks a group delivery that is not the first (at least
	// once allows it to go back); it is left out of the order check.
	Redelivery bool
}

// Watermark is a high watermark a reader saw: every offset below it was
// committed when the read was answered.
type Watermark struct {
	Partition  int32
	HWM        int64
	Start, End time.Time
}

// Commit is a group's committed offset (the next offset it will consume)
// as observed, in the order observed.
type Commit struct {
	Group     string
	Partition int32
	Offset    int64
}

// History is what a test recorded. The zero value is empty and ready; its
// methods may be called from many goroutines (mu guards the slices).
type History struct {
	mu         sync.Mutex
	publishes  []Publish
	reads      []Read
	watermarks []Watermark
	commits    []Commit
}

// Publish records a publish attempt.
func (h *History) Publish(p Publish) {
	h.mu.Lock()
	h.publishes = append(h.publishes, p)
	h.mu.Unlock()
}

// Read records reads, in the order the reader read them.
func (h *History) Read(rs ...Read) {
	h.mu.Lock()
	h.reads = append(h.reads, rs...)
	h.mu.Unlock()
}

// Watermark records a high watermark seen.
func (h *History) Watermark(w Watermark) {
	h.mu.Lock()
	h.watermarks = append(h.watermarks, w)
	h.mu.Unlock()
}

// Commit records an observed committed offset.
func (h *History) Commit(c Commit) {
	h.mu.Lock()
	h.commits = append(h.commits, c)
	h.mu.Unlock()
}

// Counts is the size of the history, for logs.
type Counts struct {
	Acked, Failed, Unknown, Reads, Watermarks, Commits int
}

// Counts counts the history's operations.
func (h *History) Counts() Counts {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := Counts{Reads: len(h.reads), Watermarks: len(h.watermarks), Commits: len(h.commits)}
	for _, p := range h.publishes {
		switch p.Outcome {
		case Acked:
			c.Acked++
		case Failed:
			c.Failed++
		default:
			c.Unknown++
		}
	}
	return c
}
