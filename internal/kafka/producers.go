package kafka

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/recordbatch"
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

// producers is the idempotence state. It lives in memory and is rebuilt
// from the log after a restart, as Kafka rebuilds it: the first idempotent
// batch a partition gets reads the headers of the partition's last
// tailRecords records (loadTail), so a batch a producer retries across a
// restart is still answered as a duplicate with its first offset, and a gap
// is still refused. A producer whose last batches are further back is
// taken as one seen for the first time.
type producers struct {
	next atomic.Int64 // the next producer ID handed out

	mu     sync.Mutex
	parts  map[producerPartition]*sequences // guarded by mu
	loaded map[topicPartition]*tailLoad     // guarded by mu
}

type topicPartition struct {
	topic     string
	partition int32
}

// tailLoad is the rebuild of one partition's producers from its log: done
// once it succeeded; mu is held while it runs.
type tailLoad struct {
	mu   sync.Mutex
	done bool
}

// tailRecords is how far back from the end of a partition loadTail reads:
// enough for the last batches of every producer writing when the broker
// stopped, bounded so that a first produce after a restart reads at most
// this many records' headers.
const tailRecords = 1 << 18

// tailSource is where loadTail reads a partition's stored batches: the
// broker.
type tailSource interface {
	PartitionBounds(topic string, partition int32) (earliest, hwm int64, err error)
	ReadBatches(topic string, partition int32, offset int64, maxBytes int, dst []byte) (broker.StoredBatches, error)
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
	p := &producers{parts: make(map[producerPartition]*sequences), loaded: make(map[topicPartition]*tailLoad)}
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
	s := p.state(k)
	s.mu.Lock()
	return s
}

func (p *producers) state(k producerPartition) *sequences {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.parts[k]
	if !ok {
		s = &sequences{epoch: -1}
		p.parts[k] = s
	}
	return s
}

// loadTail rebuilds the state of the producers that wrote the tail of one
// partition, once per partition and before any of its batches is checked;
// a failed read is tried again at the next batch.
func (p *producers) loadTail(topic string, partition int32, src tailSource) error {
	k := topicPartition{topic, partition}
	p.mu.Lock()
	l := p.loaded[k]
	if l == nil {
		l = &tailLoad{}
		p.loaded[k] = l
	}
	p.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return nil
	}
	earliest, hwm, err := src.PartitionBounds(topic, partition)
	if err != nil {
		return err
	}
	now := time.Now()
	var buf []byte
	for off := max(earliest, hwm-tailRecords); off < hwm; {
		sb, err := src.ReadBatches(topic, partition, off, 1<<20, buf[:0])
		if err != nil {
			return err
		}
		buf = sb.Batches
		from := off
		for b := sb.Batches; len(b) > 0; {
			n, ok := recordbatch.Len(b)
			if !ok || n > len(b) {
				return fmt.Errorf("producer state of %s/%d: truncated stored batch after offset %d", topic, partition, off)
			}
			h, err := recordbatch.ParseHeader(b[:n])
			if err != nil {
				return fmt.Errorf("producer state of %s/%d: %w", topic, partition, err)
			}
			b = b[n:]
			off = max(off, h.BaseOffset+int64(h.LastOffsetDelta)+1)
			if h.ProducerID >= 0 {
				p.state(producerPartition{id: h.ProducerID, topic: topic, partition: partition}).replay(h, now)
			}
		}
		if off == from {
			break // nothing more to read, e.g. a damaged range up to the end
		}
	}
	l.done = true
	return nil
}

// replay takes a stored batch's header as a batch appended now.
func (s *sequences) replay(h recordbatch.Header, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.ProducerEpoch >= s.epoch {
		s.appended(h.ProducerEpoch, h.BaseSequence, lastSequence(h.BaseSequence, h.LastOffsetDelta), h.BaseOffset, now)
	}
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
