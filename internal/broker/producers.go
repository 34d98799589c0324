package broker

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// Idempotent producers: the broker keeps, per partition and producer ID,
// the sequence numbers of the last few batches, as Kafka does, so a batch a
// producer retries after a lost answer is recognised and answered with the
// offset it got the first time instead of being written twice, and a batch
// that would leave a gap is refused. One mechanism serves both front ends:
// Kafka producers (InitProducerID, Produce) and the Go client's binary
// batches (POST /producers, POST /topics/{topic}/batches). A batch whose
// producer ID is -1 is not checked. Producer IDs come from producerids.go.
//
// Where the decision is made:
//
//   - A single broker decides before it writes (admit), holding the
//     producer's state from the check to the append (the state's turn).
//   - A replicated partition decides when a committed entry is applied
//     (applyEntry), on every replica, from the partition's producer state
//     as its own log built it. So every replica knows the producer state
//     of everything committed, and a new leader needs nothing rebuilt:
//     its state is its applied log's. Deciding at apply rather than
//     before proposing is what makes it sound: a leader's view before it
//     proposes may lack entries a previous leader committed that this
//     node has not applied yet, or an entry whose proposal timed out
//     and still commits; a retry decided against that view would be
//     written twice. At apply, the entries before it are exactly the log
//     before it, on every replica. The leader still looks before it
//     proposes, but only to answer a duplicate at once (its state holds
//     only committed batches, so that answer is true); gaps and old
//     epochs are left to apply, where the view is current.
//
// Every replica must decide the same from the same log, so the decision
// depends on the log alone: nothing expires by the clock on a replicated
// partition, and what a restart rebuilds from the log's tail (loadTail:
// the batches from tailRecords before the end) is all a check looks at,
// restarted or not (horizon). A replica restored from a Raft snapshot
// takes the state the snapshot carries instead of rebuilding it
// (producerstate.go): its log may lack what its retention deleted.
const (
	// recentBatches is how many batches per producer and partition are
	// remembered: Kafka's producers, and the Go client, have at most 5 in
	// flight per partition (api.MaxInFlightPerPartition).
	recentBatches = 5
	// producerIdle is how long the state of a producer that sent nothing
	// is kept on a single broker's partition.
	producerIdle = 24 * time.Hour
	// tailRecords is how far back from the end of a partition loadTail
	// reads: enough for the last batches of every producer writing when
	// the broker stopped, bounded so that a first produce after a restart
	// reads at most this many records' headers. A producer whose last
	// batch is further back is taken as one seen for the first time.
	tailRecords = 1 << 18
)

// noHorizon is the horizon of a single broker's checks: all it remembers.
const noHorizon = math.MinInt64

// partProducers is one partition's producer state. It lives in memory and
// is rebuilt from the log's tail, as Kafka rebuilds it, before the
// partition's first idempotent batch is checked (or, replicated, its
// first entry applied). load is held while that runs; mu guards ids and
// the fields of every *sequences in it.
type partProducers struct {
	load   sync.Mutex
	loaded bool // guarded by load

	mu  sync.Mutex
	ids map[int64]*sequences
}

// sequences is one producer's state on one partition. Its fields are
// guarded by the partition's partProducers.mu; turn is held by a single
// broker's writer from the check to the append, and by a replicated
// partition's leader from its look to the answer, so two batches of one
// producer cannot pass each other.
type sequences struct {
	turn     sync.Mutex
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

// state is producer id's state, created empty.
func (pp *partProducers) state(id int64) *sequences {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return pp.stateLocked(id)
}

func (pp *partProducers) stateLocked(id int64) *sequences {
	if pp.ids == nil {
		pp.ids = make(map[int64]*sequences)
	}
	s, ok := pp.ids[id]
	if !ok {
		s = &sequences{epoch: -1}
		pp.ids[id] = s
	}
	return s
}

// loadTail rebuilds the state of the producers that wrote the tail of the
// partition's log, once, before any of its batches is checked; a failed
// read is tried again at the next batch.
func (pp *partProducers) loadTail(log *commitlog.Log) error {
	pp.load.Lock()
	defer pp.load.Unlock()
	if pp.loaded {
		return nil
	}
	st := log.Stats()
	now := time.Now()
	var buf []byte
	for off := max(st.EarliestOffset, st.HighWatermark-tailRecords); off < st.HighWatermark; {
		var err error
		if buf, err = log.ReadBatches(off, 1<<20, buf[:0]); err != nil {
			return fmt.Errorf("producer state: read at %d: %w", off, err)
		}
		from := off
		for b := buf; len(b) > 0; {
			n, ok := recordbatch.Len(b)
			if !ok || n > len(b) {
				return fmt.Errorf("producer state: truncated stored batch after offset %d", off)
			}
			h, err := recordbatch.ParseHeader(b[:n])
			if err != nil {
				return fmt.Errorf("producer state: %w", err)
			}
			b = b[n:]
			off = max(off, h.BaseOffset+int64(h.LastOffsetDelta)+1)
			pp.replay(h, h.BaseOffset, now)
		}
		if off == from {
			break // nothing more to read, e.g. a damaged range up to the end
		}
	}
	pp.loaded = true
	return nil
}

// replay takes a stored batch's header, written at base, as a batch
// appended now.
func (pp *partProducers) replay(h recordbatch.Header, base int64, now time.Time) {
	if h.ProducerID < 0 {
		return
	}
	pp.mu.Lock()
	defer pp.mu.Unlock()
	s := pp.stateLocked(h.ProducerID)
	if h.ProducerEpoch >= s.epoch {
		s.appended(h.ProducerEpoch, h.BaseSequence, lastSequence(h.BaseSequence, h.LastOffsetDelta), base, now)
	}
}

// reset forgets every producer: the log was cut back, so the state is
// rebuilt from what it holds now.
func (pp *partProducers) reset() {
	pp.load.Lock()
	defer pp.load.Unlock()
	pp.mu.Lock()
	defer pp.mu.Unlock()
	pp.ids, pp.loaded = nil, false
}

// expire drops the state of producers idle since before cutoff or, on
// a replicated partition, of those whose last batch is below horizon
// (checks take them as new already, on every replica alike; the clock
// plays no part there), except any a writer holds. It is the partition
// that decides, not how a state was made: states a replica rebuilt from
// its log (a restart, a catch-up) were dropped by the clock on that
// replica alone, and it then decided a late retry unlike the others.
func (pp *partProducers) expire(cutoff time.Time, horizon int64, replicated bool) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for id, s := range pp.ids {
		gone := s.lastUsed.Before(cutoff)
		if replicated {
			gone = s.n > 0 && s.recent[(s.n-1)%recentBatches].base < horizon
		}
		if gone && s.turn.TryLock() {
			delete(pp.ids, id)
			s.turn.Unlock()
		}
	}
}

// horizon is the first offset a replicated partition's checks look at
// when the log's next offset is next: what loadTail would have read.
func horizon(next int64) int64 { return next - tailRecords }

// check decides what to do with a batch of sequences first..last from
// epoch, looking only at batches written at or after horizon: append it
// (nil), answer it as the duplicate of an earlier batch (dup, with that
// batch's base offset), or refuse it: INVALID_PRODUCER_EPOCH for an epoch
// older than the partition's, or OUT_OF_ORDER_SEQUENCE for a gap
// (details: expected_sequence). Called with the partition's mu held.
func (s *sequences) check(epoch int16, first, last int32, horizon int64) (dup bool, base int64, err *api.Error) {
	switch {
	case s.n == 0 || s.recent[(s.n-1)%recentBatches].base < horizon:
		return false, 0, nil // a producer seen for the first time (or forgotten)
	case epoch > s.epoch:
		return false, 0, nil // a new epoch: sequences start over
	case epoch < s.epoch:
		return false, 0, api.ErrInvalidProducerEpoch.Withf("producer epoch %d is older than %d, the partition's latest", epoch, s.epoch).
			WithDetail("producer_epoch", s.epoch)
	}
	for i := range min(s.n, recentBatches) {
		if b := s.recent[i]; b.first == first && b.last == last && b.base >= horizon {
			return true, b.base, nil
		}
	}
	if first != s.nextSeq {
		return false, 0, api.ErrOutOfOrderSequence.Withf("batch starts at sequence %d; the partition expects %d", first, s.nextSeq).
			WithDetail("expected_sequence", s.nextSeq)
	}
	return false, 0, nil
}

// appended records a batch written at base. Called with the partition's
// mu held.
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

// admission is the sequence check of one request's idempotent batches. It
// holds their producers' turns from the check until the batches are
// written (admitted) or not (release), so no other batch of those
// producers on those partitions passes between.
type admission struct {
	// replicated: applyEntry decides and records; the admission only
	// answers duplicates it already knows (see the top of this file).
	replicated bool
	parts      []*partProducers     // per frame with a state
	states     []*sequences         // per frame; nil: the frame has no producer ID
	heads      []recordbatch.Header // per frame with a state
	bases      []int64              // per frame: the first offset of a duplicate, or -1
}

// admit checks the idempotent batches among frames (all already checked to
// be whole batches of partitions of t) and returns them with their
// producers' turns held, or nil if none is idempotent. A duplicate is
// marked in bases and must not be written again; on a single broker a gap
// or an old epoch refuses the request whole. The caller writes the other
// frames, reports each to written, and calls release.
func (b *Broker) admit(t *topic, frames []Frame) (*admission, error) {
	var a *admission
	for i, f := range frames {
		h, err := recordbatch.ParseHeader(f.Batch)
		if err != nil || h.ProducerID < 0 {
			continue
		}
		if a == nil {
			n := len(frames)
			a = &admission{replicated: b.replicated(t), parts: make([]*partProducers, n), states: make([]*sequences, n), heads: make([]recordbatch.Header, n), bases: make([]int64, n)}
		}
		for j := range i {
			if a.states[j] != nil && frames[j].Partition == f.Partition {
				return nil, api.ErrInvalidArgument.Withf("frames %d and %d: idempotent batches of partition %d go in separate requests", j, i, f.Partition).
					WithDetail("index", i)
			}
		}
		p := t.parts[f.Partition]
		if err := p.producers.loadTail(p.log); err != nil {
			return nil, fmt.Errorf("%s/%d: %w", t.cfg.Name, p.id, err)
		}
		a.parts[i], a.states[i], a.heads[i] = &p.producers, p.producers.state(h.ProducerID), h
	}
	if a == nil {
		return nil, nil
	}
	// Taken in partition order: a retry of a request on a new connection
	// may run beside the first send, and both take the same turns.
	order := make([]int, 0, len(frames))
	for i, s := range a.states {
		if s != nil {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(i, j int) int { return cmp.Compare(frames[i].Partition, frames[j].Partition) })
	for _, i := range order {
		a.states[i].turn.Lock()
	}
	for i, s := range a.states {
		a.bases[i] = -1
		if s == nil {
			continue
		}
		h := &a.heads[i]
		hz := int64(noHorizon)
		if a.replicated {
			hz = horizon(t.parts[frames[i].Partition].log.HighWatermark())
		}
		a.parts[i].mu.Lock()
		dup, base, err := s.check(h.ProducerEpoch, h.BaseSequence, lastSequence(h.BaseSequence, h.LastOffsetDelta), hz)
		a.parts[i].mu.Unlock()
		switch {
		case dup:
			a.bases[i] = base
		case err != nil && !a.replicated:
			a.release()
			return nil, err.WithDetail("index", i).WithDetail("partition", frames[i].Partition)
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

// written records that frame i was written at base (a replicated
// partition's apply has recorded it already).
func (a *admission) written(i int, base int64, now time.Time) {
	if a == nil || a.replicated || a.states[i] == nil || a.bases[i] >= 0 {
		return
	}
	h := &a.heads[i]
	a.parts[i].mu.Lock()
	defer a.parts[i].mu.Unlock()
	a.states[i].appended(h.ProducerEpoch, h.BaseSequence, lastSequence(h.BaseSequence, h.LastOffsetDelta), base, now)
}

// release gives back the turns admit took.
func (a *admission) release() {
	if a == nil {
		return
	}
	for _, s := range a.states {
		if s != nil {
			s.turn.Unlock()
		}
	}
}

// decideEntry is a replicated partition's check of a committed entry
// (batches back to back) stored in log from offset at on, run where the
// entry is applied, on every replica: the idempotent batches are checked
// against the state the log before the entry built, within the horizon; a
// duplicate is answered with its first offset, and a gap or an old epoch
// refuses the entry whole. A batch not taken is voided: it keeps its
// offsets (every replica gave them to it when it was written) and no
// reader sees it. It returns each batch's first offset and the entry's
// end; next < 0 says the log failed (err).
func (pp *partProducers) decideEntry(log *commitlog.Log, entry []byte, at int64) (bases []int64, next int64, err error) {
	if err := pp.loadTail(log); err != nil {
		return nil, -1, err
	}
	type decided struct {
		head recordbatch.Header
		at   int64 // where it is stored
		base int64 // a duplicate's first offset, else -1
	}
	var ds []decided
	hz := horizon(at)
	next = at
	var refused error
	pp.mu.Lock()
	for b := entry; len(b) > 0; {
		n, ok := recordbatch.Len(b)
		if !ok || n > len(b) {
			pp.mu.Unlock()
			return nil, -1, fmt.Errorf("broker: %w: torn batch in a stored entry", commitlog.ErrCorrupt)
		}
		h, err := recordbatch.ParseHeader(b[:n])
		b = b[n:]
		if err != nil {
			pp.mu.Unlock()
			return nil, -1, fmt.Errorf("broker: stored entry: %w", err)
		}
		d := decided{head: h, at: next, base: -1}
		next += int64(h.NumRecords)
		if h.ProducerID >= 0 && refused == nil {
			// Two batches of one producer in one entry are each checked
			// against the state before the entry; admit never proposes
			// such an entry, and every replica refuses it alike.
			dup, base, err := pp.stateLocked(h.ProducerID).check(h.ProducerEpoch, h.BaseSequence, lastSequence(h.BaseSequence, h.LastOffsetDelta), hz)
			switch {
			case err != nil:
				refused = err
			case dup:
				d.base = base
			}
		}
		ds = append(ds, d)
	}
	pp.mu.Unlock()
	bases = make([]int64, len(ds))
	now := time.Now()
	for i, d := range ds {
		if refused != nil || d.base >= 0 {
			if err := log.Void(d.at); err != nil {
				return nil, -1, err
			}
			bases[i] = d.base
			continue
		}
		bases[i] = d.at
		if h := d.head; h.ProducerID >= 0 {
			pp.mu.Lock()
			s := pp.stateLocked(h.ProducerID)
			s.appended(h.ProducerEpoch, h.BaseSequence, lastSequence(h.BaseSequence, h.LastOffsetDelta), d.at, now)
			pp.mu.Unlock()
		}
	}
	if refused != nil {
		return nil, next, refused
	}
	return bases, next, nil
}

// expireProducers drops the state of producers that no check needs
// (partProducers.expire) on every partition.
func (b *Broker) expireProducers(now time.Time) {
	cutoff := now.Add(-producerIdle)
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, t := range b.topics {
		replicated := b.replicated(t)
		for _, p := range t.parts {
			p.producers.expire(cutoff, horizon(p.log.HighWatermark()), replicated)
		}
	}
}
