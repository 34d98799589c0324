package broker

import (
	"errors"
	"sync"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// A cluster's topics are replicated: their partitions are Raft groups, and
// the broker stays ignorant of Raft. Its three write paths (Publish,
// PublishBatches, AppendBatch) check and encode as always, then hand the
// partition's record batches to the Replicator instead of the log; the
// partition's state machine appends them, once committed, through
// ReplicaLog — on every replica, the leader included. So a replicated
// log holds only committed data and its high watermark is the commit
// point: no reader sees an uncommitted message. A single broker has no
// Replicator and writes its logs directly, as before.

// Replicator takes the writes of replicated topics.
type Replicator interface {
	// Replicates reports whether topic's writes go through Append.
	Replicates(topic string) bool
	// Append proposes batches (record batches back to back, all for
	// partition) and returns each batch's first offset once a majority
	// has them and this node has applied them. Errors are *api.Error
	// where the client can act (NOT_LEADER naming the leader,
	// UNAVAILABLE). batches are the caller's again once Append returns,
	// whatever it returns: a proposal still travelling copied them.
	Append(topic string, partition int32, batches []byte) ([]int64, error)
}

// SetReplicator makes the broker send the writes of the topics r
// replicates to r. Call it before serving.
func (b *Broker) SetReplicator(r Replicator) { b.repl = r }

// replicated reports whether t's writes go through the Replicator.
func (b *Broker) replicated(t *topic) bool {
	return b.repl != nil && b.repl.Replicates(t.cfg.Name)
}

// replicate appends batches to p through the Replicator and counts them.
func (b *Broker) replicate(t *topic, p *partition, batches []byte, records int) ([]int64, error) {
	bases, err := b.repl.Append(t.cfg.Name, p.id, batches)
	if err != nil {
		return nil, err
	}
	p.traffic.countPublished(records, len(batches))
	return bases, nil
}

// encodeBatches encodes msgs[idx...] as batches of about maxBatchBytes,
// back to back, with timestamps defaulted to now, as appendTo would store
// them.
func encodeBatches(msgs []Message, idx []int, now int64) (out []byte, size int) {
	var bld recordbatch.Builder
	for len(idx) > 0 {
		n, k := 0, 0
		bld.Reset(out)
		for k < len(idx) && (k == 0 || n+msgs[idx[k]].size() <= maxBatchBytes) {
			m := &msgs[idx[k]]
			ts := m.Timestamp
			if ts == 0 {
				ts = now
			}
			bld.Add(m.Attributes, ts, m.Key, m.Value, m.Headers)
			n += m.size()
			k++
		}
		out = bld.Finish(recordbatch.NewHeader(0))
		size += n
		idx = idx[k:]
	}
	return out, size
}

// publishReplicated is Publish's write for a replicated topic: each
// partition's messages as one Raft entry, the partitions proposed
// concurrently.
func (b *Broker) publishReplicated(t *topic, msgs []Message, perPart [][]int, now int64, pos []Position, via appendFunc) error {
	var jobs []replicaJob
	for p, idx := range perPart {
		if len(idx) > 0 {
			batches, size := encodeBatches(msgs, idx, now)
			jobs = append(jobs, replicaJob{part: int32(p), batches: batches, records: len(idx), size: size})
		}
	}
	return b.replicateAll(t, jobs, via, func(j replicaJob, bases []int64) {
		for k, i := range perPart[j.part] {
			pos[i].Offset = bases[0] + int64(k) // the entry's batches have contiguous offsets
		}
	})
}

// publishFramesReplicated is PublishBatches' write for a replicated topic:
// each partition's frames, in request order, as one Raft entry.
// Duplicates of an idempotent producer's earlier batches (adm) are answered
// with their first offsets and not proposed again.
func (b *Broker) publishFramesReplicated(t *topic, frames []Frame, checked []commitlog.Checked, pos []Position, adm *admission) error {
	byPart := map[int32][]int{}
	var jobs []replicaJob
	for i, f := range frames {
		if base, ok := adm.duplicate(i); ok {
			pos[i] = Position{Partition: f.Partition, Offset: base}
			continue
		}
		if _, ok := byPart[f.Partition]; !ok {
			jobs = append(jobs, replicaJob{part: f.Partition})
		}
		byPart[f.Partition] = append(byPart[f.Partition], i)
	}
	for k := range jobs {
		j := &jobs[k]
		idx := byPart[j.part]
		for _, i := range idx {
			j.size += len(frames[i].Batch)
			j.records += int(checked[i].NumRecords())
		}
		if len(idx) == 1 {
			// The request's own bytes: Append is done with them when it
			// returns (the Replicator's contract), and it is waited for.
			j.batches = frames[idx[0]].Batch
			continue
		}
		j.batches = make([]byte, 0, j.size)
		for _, i := range idx {
			j.batches = append(j.batches, frames[i].Batch...)
		}
	}
	now := time.Now()
	return b.replicateAll(t, jobs, nil, func(j replicaJob, bases []int64) {
		for k, i := range byPart[j.part] {
			pos[i] = Position{Partition: j.part, Offset: bases[k]}
			adm.written(i, bases[k], now)
		}
	})
}

// replicaJob is one partition's entry of a request.
type replicaJob struct {
	part          int32
	batches       []byte
	records, size int
}

// appendFunc appends a partition's batches to a replicated topic:
// Replicator.Append, or ClusterDLQ.AppendVia for the broker's own writes.
type appendFunc func(topic string, partition int32, batches []byte) ([]int64, error)

// replicateAll proposes every job's entry concurrently, through via (nil:
// the Replicator's Append), and reports each success to done. A request is all-or-nothing only when it fails whole:
// if some partitions were written and another failed, NOT_LEADER (which
// tells a client to send the whole request elsewhere, writing nothing
// here) would make it write the written ones twice, so the answer is
// UNAVAILABLE saying which partitions hold their messages.
func (b *Broker) replicateAll(t *topic, jobs []replicaJob, via appendFunc, done func(replicaJob, []int64)) error {
	if via == nil {
		via = b.repl.Append
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for k, j := range jobs {
		wg.Go(func() {
			bases, err := via(t.cfg.Name, j.part, j.batches)
			if err != nil {
				errs[k] = err
				return
			}
			t.parts[j.part].traffic.countPublished(j.records, j.size)
			mu.Lock()
			done(j, bases)
			mu.Unlock()
		})
	}
	wg.Wait()
	var written []int32
	var first error
	for k, err := range errs {
		switch {
		case err == nil:
			written = append(written, jobs[k].part)
		case first == nil:
			first = err
		}
	}
	if first == nil || len(written) == 0 {
		return first
	}
	return api.ErrUnavailable.Withf("partitions %v of %q took their messages but another did not (%v); retrying the whole request stores those again", written, t.cfg.Name, first).
		WithDetail("written_partitions", written)
}

// ReplicaLog is one partition's log as its Raft state machine writes it
// (internal/cluster/replica.Log).
type ReplicaLog struct {
	b *Broker
	t *topic
	p *partition
}

// replicaScratch holds copies of entries being appended: the commitlog
// writes a batch's base offset into the bytes it is given, and an entry's
// bytes are Raft's (its in-memory log, and messages to followers the
// transport may be encoding at that moment). Pooled, not one per
// partition, so a thousand partitions do not each keep their largest
// entry.
var replicaScratch = sync.Pool{New: func() any { return new([]byte) }}

// ReplicaLog returns the log of a replicated partition for its state
// machine. Errors: TOPIC_NOT_FOUND, PARTITION_NOT_FOUND.
func (b *Broker) ReplicaLog(topicName string, partition int32) (*ReplicaLog, error) {
	t, p, err := b.lookupPartition(topicName, partition)
	if err != nil {
		return nil, err
	}
	return &ReplicaLog{b: b, t: t, p: p}, nil
}

// AppendEntry appends a committed entry's batches and returns each one's
// first offset, checking idempotent producers' batches first as every
// replica does (partProducers.applyEntry): a duplicate is answered with
// its first offset and not written again; a gap or an old epoch refuses
// the entry whole.
func (r *ReplicaLog) AppendEntry(entry []byte) ([]int64, error) {
	r.p.dirty.Store(true)
	end := int64(-1)
	bases, err := r.p.producers.applyEntry(r.p.log, entry, func(batch []byte) (int64, error) {
		base, e, err := r.writeOne(batch)
		end = e
		return base, err
	})
	if err == nil && end >= 0 {
		// One wait for the entry's batches, not one each: under
		// fsync=always an entry of several partitions' frames (a
		// pipelined request) paid an fsync per batch.
		err = r.p.log.Durable(end)
	}
	return bases, err
}

// AppendBatches appends stored batches as they are (a replica catching up
// from another's log) and returns the first one's base offset; the
// producers' state follows them. Each is checked as AppendBatch checks a
// producer's; the fsync policy is applied once, after the last (a whole
// fetched chunk costs one fsync, not one per batch).
func (r *ReplicaLog) AppendBatches(batches []byte) (int64, error) {
	if err := r.p.producers.loadTail(r.p.log); err != nil {
		return 0, err
	}
	buf := replicaScratch.Get().(*[]byte)
	defer replicaScratch.Put(buf)
	*buf = append((*buf)[:0], batches...)
	first, err := r.p.log.AppendBatches(*buf)
	if err != nil {
		return 0, err
	}
	// The log gave the batches consecutive offsets from first, in order
	// (each its record count of them).
	now, base := time.Now(), first
	for rest := batches; len(rest) > 0; {
		n, _ := recordbatch.Len(rest) // checked whole by the append
		if h, err := recordbatch.ParseHeader(rest[:n]); err == nil {
			r.p.producers.replay(h, base, now)
			base += int64(h.NumRecords)
		}
		rest = rest[n:]
	}
	r.p.dirty.Store(true)
	return first, nil
}

// writeOne writes one batch from a copy, without waiting for it to be
// durable (AppendEntry waits once for the entry): the commitlog writes
// its base offset into the bytes it is given, and an entry's bytes are
// Raft's. It returns the base offset and the log's end after it.
func (r *ReplicaLog) writeOne(batch []byte) (base, end int64, err error) {
	buf := replicaScratch.Get().(*[]byte)
	defer replicaScratch.Put(buf)
	*buf = append((*buf)[:0], batch...)
	return r.p.log.WriteBatch(*buf)
}

// NextOffset is the offset the next appended record gets.
func (r *ReplicaLog) NextOffset() int64 { return r.p.log.NextOffset() }

// EarliestOffset is the log's first offset (retention deleted the ones
// below).
func (r *ReplicaLog) EarliestOffset() int64 { return r.p.log.EarliestOffset() }

// Sync makes everything appended durable.
func (r *ReplicaLog) Sync() error { return r.p.log.Sync() }

// FsyncPolicy is the topic's fsync policy.
func (r *ReplicaLog) FsyncPolicy() commitlog.FsyncPolicy { return r.p.log.FsyncPolicy() }

// TruncateTo cuts the log back to offset (see commitlog.Log.TruncateTo)
// and has the producers' state rebuilt from what is left, unless a
// snapshot's is installed next (SetProducers).
func (r *ReplicaLog) TruncateTo(offset int64) error {
	defer r.p.producers.reset()
	return r.p.log.TruncateTo(offset)
}

// StartAt empties the log so that it starts at offset (see
// commitlog.Log.StartAt), and forgets the producers: what they wrote is
// gone (a restore then installs the snapshot's state: SetProducers).
func (r *ReplicaLog) StartAt(offset int64) error {
	defer r.p.producers.reset()
	r.p.dirty.Store(true)
	return r.p.log.StartAt(offset)
}

// Producers returns the idempotent producers' state as of the log's end,
// for a snapshot (partProducers.export).
func (r *ReplicaLog) Producers() ([]byte, error) { return r.p.producers.export(r.p.log) }

// SetProducers installs a state Producers returned, as of the log's end,
// in place of the one its tail would give (partProducers.install).
func (r *ReplicaLog) SetProducers(state []byte) error { return r.p.producers.install(state) }

// ReadBatches reads stored batches from the one holding from, about
// maxBytes of them, for a replica catching up.
func (r *ReplicaLog) ReadBatches(from int64, maxBytes int) ([]byte, error) {
	return r.p.log.ReadBatches(from, maxBytes, nil)
}

// replicatedBatchError maps a refused batch as AppendBatch does.
func replicatedBatchError(err error) error {
	if errors.Is(err, commitlog.ErrCorrupt) || errors.Is(err, commitlog.ErrUnsupported) || errors.Is(err, recordbatch.ErrCorrupt) {
		return api.ErrBadRequest.Withf("not a valid Kafka RecordBatch v2: %v", err)
	}
	return err
}
