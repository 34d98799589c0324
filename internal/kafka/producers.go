package kafka

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Idempotent producers: Kafka keeps, per producer ID and partition, the
// sequence numbers of the last few batches, so a batch a producer retries
// after a lost answer is recognised and answered with the offset it got the
// first time instead of being written twice.
const (
	// recentBatches is how many batches per producer and partition are
	// remembered: Kafka's producers have at most 5 in flight per partition.
	recentBatches = 5
	// producerIdle is how long the state of a producer that sent nothing
	// is kept.
	producerIdle = 24 * time.Hour
)

// producers is the idempotence state. It lives in memory: after a broker
// restart a producer's next batch is accepted whatever its sequence, as for
// a producer seen for the first time.
type producers struct {
	next atomic.Int64 // the next producer ID handed out

	mu    sync.Mutex
	parts map[producerPartition]*sequences // guarded by mu
}

type producerPartition struct {
	id        int64
	topic     string
	partition int32
}

// sequences is one producer's state on one partition, guarded by mu, which
// is held across the check and the append so two batches of one producer
// cannot pass each other.
type sequences struct {
	mu       sync.Mutex
	epoch    int16
	nextSeq  int32
	recent   [recentBatches]sentBatch
	n        int // batches in recent, at most recentBatches; the newest at (n-1) % len
	lastUsed time.Time
}

type sentBatch struct {
	first, last int32
	base        int64
}

func newProducers() *producers {
	p := &producers{parts: make(map[producerPartition]*sequences)}
	// IDs start from the clock so that IDs handed out before a restart are
	// not handed out again after it.
	p.next.Store(time.Now().UnixMilli() << 8)
	return p
}

// newID allocates a producer ID and drops the state of idle producers.
func (p *producers) newID(now time.Time) int64 {
	p.mu.Lock()
	for k, s := range p.parts {
		if s.mu.TryLock() {
			if now.Sub(s.lastUsed) > producerIdle {
				delete(p.parts, k)
			}
			s.mu.Unlock()
		}
	}
	p.mu.Unlock()
	return p.next.Add(1)
}

// lock returns the locked state of one producer on one partition.
func (p *producers) lock(k producerPartition) *sequences {
	p.mu.Lock()
	s, ok := p.parts[k]
	if !ok {
		s = &sequences{epoch: -1}
		p.parts[k] = s
	}
	p.mu.Unlock()
	s.mu.Lock()
	return s
}

// check decides what to do with a batch of sequences first..last from
// epoch: append it (ok), answer it as the duplicate of an earlier batch
// (dup, with that batch's base offset), or refuse it (a Kafka error code).
func (s *sequences) check(epoch int16, first, last int32) (dup bool, base int64, code int16) {
	switch {
	case s.epoch < 0 || epoch > s.epoch:
		return false, 0, 0 // a new producer, or a new epoch of it: sequences start over
	case epoch < s.epoch:
		return false, 0, kerr.InvalidProducerEpoch.Code
	}
	for i := range min(s.n, recentBatches) {
		if b := s.recent[i]; b.first == first && b.last == last {
			return true, b.base, 0
		}
	}
	if first != s.nextSeq {
		return false, 0, kerr.OutOfOrderSequenceNumber.Code
	}
	return false, 0, 0
}

// appended records a batch written at base.
func (s *sequences) appended(epoch int16, first, last int32, base int64, now time.Time) {
	if epoch != s.epoch {
		s.epoch, s.n = epoch, 0
	}
	s.recent[s.n%recentBatches] = sentBatch{first: first, last: last, base: base}
	s.n++
	s.nextSeq = nextSequence(last)
	s.lastUsed = now
}

// lastSequence is the sequence of a batch's last record: sequences wrap
// from MaxInt32 to 0.
func lastSequence(first, lastOffsetDelta int32) int32 {
	return int32((int64(first) + int64(lastOffsetDelta)) % (math.MaxInt32 + 1))
}

func nextSequence(last int32) int32 {
	if last == math.MaxInt32 {
		return 0
	}
	return last + 1
}
