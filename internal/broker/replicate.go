package broker

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
// machine, and holds its high watermark (commitlog.Log.HoldWatermark):
// batches are written when Raft persists their entry, and readers see
// them once it is applied. The partition is marked replicated on disk
// first (markReplica), so that from its next start on its log opens held
// and keeps everything from retention until its state machine has
// restored it. Errors: TOPIC_NOT_FOUND, PARTITION_NOT_FOUND, and a
// failure to write the mark.
func (b *Broker) ReplicaLog(topicName string, partition int32) (*ReplicaLog, error) {
	t, p, err := b.lookupPartition(topicName, partition)
	if err != nil {
		return nil, err
	}
	if err := markReplica(b.partitionDir(topicName, partition)); err != nil {
		return nil, fmt.Errorf("broker: %s/%d: %w", topicName, partition, err)
	}
	p.log.HoldWatermark()
	return &ReplicaLog{b: b, t: t, p: p}, nil
}

// replicaMark names the file that marks a partition's directory as a
// replicated partition's. Opened without it, the log would show readers
// the batches written past the commit point before a crash, which a new
// leader may replace, and retention could delete, before the partition's
// state machine restored it, the batches of the Raft entries after its
// last snapshot, which the restart reads back from the log.
const replicaMark = "replicated"

// markReplica marks dir as a replicated partition's, durably, once.
func markReplica(dir string) error {
	name := filepath.Join(dir, replicaMark)
	if _, err := os.Stat(name); err == nil {
		return nil
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// replicaMarked reports whether dir is marked as a replicated partition's.
func replicaMarked(dir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dir, replicaMark))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// WriteEntry writes an entry's batches, as Raft persists it, beyond what
// readers see, without waiting for them to be durable (Raft syncs the log
// before it promises the entry: Sync). All are checked before any is
// written: a batch no log takes leaves the log as it was.
func (r *ReplicaLog) WriteEntry(entry []byte) (first, next int64, err error) {
	first, next, _, err = r.writeEntry(entry)
	return first, next, err
}

// writeEntry writes the entry's batches from a copy: the commitlog writes
// base offsets into the bytes it is given, and an entry's bytes are Raft's.
func (r *ReplicaLog) writeEntry(entry []byte) (first, next, end int64, err error) {
	buf := replicaScratch.Get().(*[]byte)
	defer replicaScratch.Put(buf)
	*buf = append((*buf)[:0], entry...)
	return r.p.log.WriteBatches(*buf)
}

// ReadEntry reads back the batches stored in [first, next), whatever
// readers see of them.
func (r *ReplicaLog) ReadEntry(first, next int64) ([]byte, error) {
	return r.p.log.ReadRange(first, next)
}

// ApplyEntry applies a committed entry stored from offset at on (written
// first if at is negative), checking idempotent producers' batches as
// every replica does (partProducers.decideEntry): a duplicate is answered
// with its first offset, a gap or an old epoch refuses the entry whole,
// and the batches not taken are voided (they keep their offsets, so every
// replica's offsets agree, and no reader sees them). Then readers see the
// entry.
func (r *ReplicaLog) ApplyEntry(entry []byte, at int64) ([]int64, error) {
	r.p.dirty.Store(true)
	log := r.p.log
	if at < 0 {
		first, _, end, err := r.writeEntry(entry)
		if err != nil {
			return nil, err
		}
		// One wait for the entry's batches, not one each: under
		// fsync=always an entry of several partitions' frames (a
		// pipelined request) paid an fsync per batch.
		if err := log.Durable(end); err != nil {
			return nil, err
		}
		at = first
	}
	bases, next, err := r.p.producers.decideEntry(log, entry, at)
	if next < 0 {
		return nil, err // the log failed voiding
	}
	if rerr := log.Release(next); rerr != nil {
		return nil, rerr
	}
	return bases, err
}

// Committed is where what readers see ends: the applied entries' end.
func (r *ReplicaLog) Committed() int64 { return r.p.log.HighWatermark() }

// SetCommitted places the end of what readers see at offset (a restore;
// see replica.Log), and has the producers' state rebuilt from the log up
// to there, unless a snapshot's is installed next (SetProducers): one read
// before, from a log whose end was elsewhere (held at its start, say),
// would decide the entries applied next unlike the other replicas.
func (r *ReplicaLog) SetCommitted(offset int64) error {
	defer r.p.producers.reset()
	if offset < r.p.log.HighWatermark() {
		return r.p.log.LowerWatermark(offset)
	}
	return r.p.log.Release(offset)
}

// Retain keeps retention from deleting records at or after offset.
func (r *ReplicaLog) Retain(offset int64) { r.p.log.RetainFrom(offset) }

// RetentionWaits reports whether retention kept records only for Retain.
func (r *ReplicaLog) RetentionWaits() bool { return r.p.log.RetentionWaits() }

// AppendBatches appends stored batches as they are (a replica catching up
// from another's log) and returns the first one's base offset; readers
// see them at once (they are committed) and the producers' state follows
// them. Each is checked as AppendBatch checks a producer's; batches
// ReadBatches marked voided are voided here too. The fsync policy is
// applied once, after the last (a whole fetched chunk costs one fsync, not
// one per batch).
func (r *ReplicaLog) AppendBatches(batches []byte) (int64, error) {
	if err := r.p.producers.loadTail(r.p.log); err != nil {
		return 0, err
	}
	buf := replicaScratch.Get().(*[]byte)
	defer replicaScratch.Put(buf)
	*buf = append((*buf)[:0], batches...)
	voided := unmarkVoided(*buf)
	first, next, end, err := r.p.log.WriteBatches(*buf)
	if err != nil {
		return 0, err
	}
	if err := r.p.log.Durable(end); err != nil {
		return 0, err
	}
	// The log gave the batches consecutive offsets from first, in order
	// (each its record count of them).
	now, base := time.Now(), first
	for i, rest := 0, *buf; len(rest) > 0; i++ {
		n, _ := recordbatch.Len(rest) // checked whole by the write
		if h, err := recordbatch.ParseHeader(rest[:n]); err == nil {
			if slices.Contains(voided, i) {
				if err := r.p.log.Void(base); err != nil {
					return 0, err
				}
			} else {
				r.p.producers.replay(h, base, now)
			}
			base += int64(h.NumRecords)
		}
		rest = rest[n:]
	}
	if err := r.p.log.Release(next); err != nil {
		return 0, err
	}
	r.p.dirty.Store(true)
	return first, nil
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

// TruncateTo cuts the log back to offset (see commitlog.Log.TruncateTo).
// A cut below what readers see has the producers' state rebuilt from what
// is left, unless a snapshot's is installed next (SetProducers); one of
// batches not yet applied (a new leader's entries replace them) leaves it:
// the state is of the applied entries, and a rebuilt one would lack what
// this node's retention deleted (see producerstate.go).
func (r *ReplicaLog) TruncateTo(offset int64) error {
	if offset < r.p.log.HighWatermark() {
		defer r.p.producers.reset()
	}
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
// maxBytes of them, up to what readers see, for a replica catching up
// (or a mirror): voided ones too, marked (markVoided), since the copy
// must give every batch the offsets this log gave it.
func (r *ReplicaLog) ReadBatches(from int64, maxBytes int) ([]byte, error) {
	b, voided, err := r.p.log.ReadBatchesVoided(from, maxBytes, nil)
	if err != nil {
		return nil, err
	}
	markVoided(b, voided)
	return b, nil
}

// replicatedBatchError maps a refused batch as AppendBatch does.
func replicatedBatchError(err error) error {
	if errors.Is(err, commitlog.ErrCorrupt) || errors.Is(err, commitlog.ErrUnsupported) || errors.Is(err, recordbatch.ErrCorrupt) {
		return api.ErrBadRequest.Withf("not a valid Kafka RecordBatch v2: %v", err)
	}
	return err
}
