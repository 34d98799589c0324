package broker

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// Idempotent producers: the broker keeps, per producer ID and partition, the
// sequence numbers of the last few batches, as Kafka does, so a batch a
// producer retries after a lost answer is recognised and answered with the
// offset it got the first time instead of being written twice, and a batch
// that would leave a gap is refused. One mechanism serves both front ends:
// Kafka producers (InitProducerID, Produce) and the Go client's binary
// batches (POST /producers, POST /topics/{topic}/batches). A batch whose
// producer ID is -1 is not checked.
const (
	// recentBatches is how many batches per producer and partition are
	// remembered: Kafka's producers, and the Go client, have at most 5 in
	// flight per partition (api.MaxInFlightPerPartition).
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
func (p *producers) loadTail(topic string, partition int32, src *Broker) error {
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
// epoch: append it (nil), answer it as the duplicate of an earlier batch
// (dup, with that batch's base offset), or refuse it:
// INVALID_PRODUCER_EPOCH for an epoch older than the partition's, or
// OUT_OF_ORDER_SEQUENCE for a gap (details: expected_sequence).
func (s *sequences) check(epoch int16, first, last int32) (dup bool, base int64, err *api.Error) {
	switch {
	case s.epoch < 0 || epoch > s.epoch:
		return false, 0, nil // a new producer, or a new epoch of it: sequences start over
	case epoch < s.epoch:
		return false, 0, api.ErrInvalidProducerEpoch.Withf("producer epoch %d is older than %d, the partition's latest", epoch, s.epoch).
			WithDetail("producer_epoch", s.epoch)
	}
	for i := range min(s.n, recentBatches) {
		if b := s.recent[i]; b.first == first && b.last == last {
			return true, b.base, nil
		}
	}
	if first != s.nextSeq {
		return false, 0, api.ErrOutOfOrderSequence.Withf("batch starts at sequence %d; the partition expects %d", first, s.nextSeq).
			WithDetail("expected_sequence", s.nextSeq)
	}
	return false, 0, nil
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

// NewProducerID hands out an ID for an idempotent producer (Kafka's
// InitProducerID, POST /producers) and drops the state of idle producers.
// Its sequences start at 0 in epoch 0 on every partition.
func (b *Broker) NewProducerID() int64 {
	return b.producers.newID(b.now())
}

// admission is the sequence check of one request's idempotent batches. It
// holds their producers' states locked from the check until the batches
// are written (admitted) or not (release), so no other batch of those
// producers on those partitions passes between.
type admission struct {
	p      *producers
	states []*sequences         // per frame; nil: the frame has no producer ID
	heads  []recordbatch.Header // per frame with a state
	bases  []int64              // per frame: the first offset of a duplicate, or -1
	dups   int                  // frames that are duplicates
}

// admit checks the idempotent batches among frames (all already checked to
// be whole batches of partitions of topic) and returns their locked
// states, or nil if none is idempotent. A duplicate is marked in bases and
// must not be written again; a gap or an old epoch refuses the request
// whole. The caller writes the other frames, reports each to written, and
// calls release.
func (p *producers) admit(src *Broker, topic string, frames []Frame) (*admission, error) {
	var a *admission
	for i, f := range frames {
		h, err := recordbatch.ParseHeader(f.Batch)
		if err != nil || h.ProducerID < 0 {
			continue
		}
		if a == nil {
			a = &admission{p: p, states: make([]*sequences, len(frames)), heads: make([]recordbatch.Header, len(frames)), bases: make([]int64, len(frames))}
		}
		for j := range i {
			if a.states[j] != nil && frames[j].Partition == f.Partition {
				return nil, api.ErrInvalidArgument.Withf("frames %d and %d: idempotent batches of partition %d go in separate requests", j, i, f.Partition).
					WithDetail("index", i)
			}
		}
		if err := p.loadTail(topic, f.Partition, src); err != nil {
			return nil, err
		}
		a.states[i] = p.state(producerPartition{id: h.ProducerID, topic: topic, partition: f.Partition})
		a.heads[i] = h
	}
	if a == nil {
		return nil, nil
	}
	// Locked in partition order: a retry of a request on a new connection
	// may run beside the first send, and both lock the same states.
	order := make([]int, 0, len(frames))
	for i, s := range a.states {
		if s != nil {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(i, j int) int { return cmp.Compare(frames[i].Partition, frames[j].Partition) })
	for _, i := range order {
		a.states[i].mu.Lock()
	}
	for i, s := range a.states {
		a.bases[i] = -1
		if s == nil {
			continue
		}
		h := &a.heads[i]
		dup, base, err := s.check(h.ProducerEpoch, h.BaseSequence, lastSequence(h.BaseSequence, h.LastOffsetDelta))
		if err != nil {
			a.release()
			return nil, err.WithDetail("index", i).WithDetail("partition", frames[i].Partition)
		}
		if dup {
			a.bases[i] = base
			a.dups++
		}
	}
	return a, nil
}

// duplicate reports the first offset frame i got when it was first
// written, if it is a duplicate. A nil admission has none.
func (a *admission) duplicate(i int) (int64, bool) {
	if a == nil || a.bases[i] < 0 {
		return 0, false
	}
	return a.bases[i], true
}

// written records that frame i was written at base.
func (a *admission) written(i int, base int64, now time.Time) {
	if a == nil || a.states[i] == nil || a.bases[i] >= 0 {
		return
	}
	h := &a.heads[i]
	a.states[i].appended(h.ProducerEpoch, h.BaseSequence, lastSequence(h.BaseSequence, h.LastOffsetDelta), base, now)
}

// release unlocks the states admit locked.
func (a *admission) release() {
	if a == nil {
		return
	}
	for _, s := range a.states {
		if s != nil {
			s.mu.Unlock()
		}
	}
}
