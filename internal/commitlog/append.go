package commitlog

import (
	"fmt"
	"math"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// Append writes recs as one RecordBatch and returns the offset of the first.
// It sets each recs[i].Offset (and Timestamp when 0). When it returns nil,
// the batch is durable as the FsyncPolicy promises.
func (l *Log) Append(recs []Record) (base int64, err error) {
	if len(recs) == 0 {
		return 0, ErrEmpty
	}
	now := l.opts.Now().UnixMilli()
	for i := range recs {
		if recs[i].Timestamp == 0 {
			recs[i].Timestamp = now
		}
	}
	// Encode outside mu, so concurrent appenders encode in parallel: the base
	// offset is outside the CRC and is set once the lock is held.
	enc := l.getEncoder()
	defer l.putEncoder(enc)
	b, info := enc.encode(0, recs)
	if len(b) > l.opts.MaxBatchBytes {
		return 0, fmt.Errorf("commitlog: %d byte batch: %w", len(b), ErrBatchTooLarge)
	}
	base, end, err := l.write(b, info)
	if err != nil {
		return 0, err
	}
	for i := range recs {
		recs[i].Offset = base + int64(i)
	}
	return base, l.afterWrite(end)
}

// AppendBatch appends one encoded Kafka RecordBatch v2 (as a producer sent
// it): it checks it (CheckFrame, then CheckRecords), assigns offsets by
// writing the base offset into batch's header in place (outside the CRC),
// writes batch's bytes as they are, and returns the first offset. The
// caller may reuse batch after it returns.
//
// The batch may be compressed (it is stored as sent, decompressed only to
// check its records) but not a control batch (ErrUnsupported); it must
// hold exactly as many records as it says with offset deltas 0..n-1, and be
// at most MaxBatchBytes; anything malformed is an ErrCorrupt error. Record
// timestamps are stored as the producer set them.
func (l *Log) AppendBatch(batch []byte) (base int64, err error) {
	base, end, err := l.WriteBatch(batch)
	if err != nil {
		return 0, err
	}
	return base, l.Durable(end)
}

// WriteBatch is AppendBatch without its wait for durability: it checks and
// writes batch and returns its first offset and end, the log's size after
// it, for Durable. A front end that pipelines a client's requests writes
// the next batch while an earlier one waits, so batches written meanwhile
// share that wait's fsync. Under FsyncAlways the batch stays invisible to
// readers (above the high watermark) until a Durable or Sync covers it.
func (l *Log) WriteBatch(batch []byte) (base, end int64, err error) {
	c, err := l.checkBatch(batch)
	if err != nil {
		return 0, 0, err
	}
	return l.write(c.b, c.info)
}

// WriteChecked is WriteBatch of a batch whose records CheckRecords
// accepted, without checking them again.
func (l *Log) WriteChecked(c *Checked) (base, end int64, err error) {
	if !c.records {
		return 0, 0, fmt.Errorf("commitlog: write of a batch whose records were not checked: %w", ErrCorrupt)
	}
	if len(c.b) > l.opts.MaxBatchBytes {
		return 0, 0, fmt.Errorf("commitlog: %d byte batch: %w", len(c.b), ErrBatchTooLarge)
	}
	return l.write(c.b, c.info)
}

// checkBatch checks batch as AppendBatch does: its size, its frame, its
// records.
func (l *Log) checkBatch(batch []byte) (Checked, error) {
	if len(batch) > l.opts.MaxBatchBytes {
		return Checked{}, fmt.Errorf("commitlog: %d byte batch: %w", len(batch), ErrBatchTooLarge)
	}
	c, err := CheckFrame(batch)
	if err == nil {
		err = c.CheckRecords(Decompression{}, nil)
	}
	if err != nil {
		return Checked{}, fmt.Errorf("commitlog: append batch: %w", err)
	}
	return c, nil
}

// Durable returns once the log's first end bytes are as durable as the
// FsyncPolicy promises: under FsyncAlways after an fsync, which writers
// waiting at once share (group commit); end is what WriteBatch returned.
func (l *Log) Durable(end int64) error { return l.afterWrite(end) }

// AppendChecked appends a batch whose records CheckRecords accepted,
// without checking or copying it again: it writes the base offset into
// the batch's bytes and writes them to the segment. It returns the first
// offset once the batch is as durable as the FsyncPolicy promises.
func (l *Log) AppendChecked(c *Checked) (base int64, err error) {
	base, end, err := l.WriteChecked(c)
	if err != nil {
		return 0, err
	}
	return base, l.afterWrite(end)
}

// write gives the encoded batch b the next offsets and writes it. It returns
// the base offset and the value of l.written after the batch.
func (l *Log) write(b []byte, info batchInfo) (base, end int64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return 0, 0, err
	}
	base = l.next
	recordbatch.SetBaseOffset(b, base)
	info.base = base
	end, err = l.writeLocked(b, info)
	return base, end, err
}

func (l *Log) getEncoder() *encoder {
	if e, ok := l.encoders.Get().(*encoder); ok {
		return e
	}
	return new(encoder)
}

// putEncoder keeps e for the next append unless one huge batch grew it.
func (l *Log) putEncoder(e *encoder) {
	if cap(e.buf) <= maxKeptEncodeBuf {
		l.encoders.Put(e)
	}
}

func (l *Log) writableLocked() error {
	if l.closed {
		return ErrClosed
	}
	return l.failed
}

// maxKeptEncodeBuf bounds the encode buffers a log keeps between appends.
const maxKeptEncodeBuf = 1 << 20

// writeLocked writes one encoded batch at the end of the log, rolling first
// if the active segment is full or old, and returns the value of l.written
// after it.
func (l *Log) writeLocked(b []byte, info batchInfo) (int64, error) {
	act := l.active()
	if l.shouldRollLocked(act, len(b), info.records) {
		if err := l.rollLocked(); err != nil {
			return 0, err
		}
		act = l.active()
	}
	pos := act.size
	if _, err := act.f.WriteAt(b, pos); err != nil {
		// Take back whatever part of the batch reached the file, so the next
		// batch starts at pos; if even that fails, stop appending.
		if terr := act.f.Truncate(pos); terr != nil {
			l.failed = fmt.Errorf("%w: segment %d unusable after a failed write: %w", ErrFailed, act.base, terr)
		}
		return 0, fmt.Errorf("commitlog: write: %w", err)
	}
	if pos == 0 {
		act.created = l.opts.Now()
	}
	act.noteBatch(info, pos, l.opts.IndexIntervalBytes)
	l.bytes += int64(len(b))
	l.written += int64(len(b))
	l.next = info.next()
	if l.held {
		l.notePendingLocked()
	} else if l.opts.Fsync != FsyncAlways {
		l.advanceLocked(l.next)
	}
	return l.written, nil
}

// afterWrite applies the fsync policy to a write that ended at end.
func (l *Log) afterWrite(end int64) error {
	switch l.opts.Fsync {
	case FsyncAlways:
		return l.syncTo(end)
	case FsyncInterval:
		if l.opts.FsyncBytes > 0 {
			l.mu.Lock()
			due := l.written-l.synced >= l.opts.FsyncBytes
			l.mu.Unlock()
			if due {
				return l.syncTo(end)
			}
		}
	}
	return nil
}

// shouldRollLocked reports whether a batch of n bytes and records records
// must go to a new segment: the active one is non-empty and would pass
// SegmentBytes, is older than SegmentAge, or would overflow its uint32
// relative offsets.
func (l *Log) shouldRollLocked(act *segment, n int, records int32) bool {
	if act.size == 0 {
		return false
	}
	return act.size+int64(n) > l.opts.SegmentBytes ||
		l.agedLocked(act) ||
		act.next-act.base+int64(records) > math.MaxUint32
}

// agedLocked reports whether the non-empty active segment is older than SegmentAge.
func (l *Log) agedLocked(act *segment) bool {
	return l.opts.SegmentAge > 0 && act.size > 0 && l.opts.Now().Sub(act.created) >= l.opts.SegmentAge
}

// rollLocked seals the active segment (fsyncing it and its index unless the
// policy is FsyncNever) and starts a new one at l.next.
func (l *Log) rollLocked() error {
	old := l.active()
	durable := l.opts.Fsync != FsyncNever
	if durable {
		if err := old.f.Sync(); err != nil {
			l.failed = fmt.Errorf("%w: fsync: %w", ErrFailed, err)
			return l.failed
		}
		l.synced = l.written
		if !l.held {
			l.advanceLocked(l.next)
		}
	}
	if err := old.writeIndex(l.dir, durable); err != nil {
		return err
	}
	s, err := createSegment(l.dir, l.next, l.files)
	if err != nil {
		return err
	}
	if durable {
		if err := syncDir(l.dir); err != nil {
			s.seal(l.files)
			l.files.drop(s.h)
			return fmt.Errorf("commitlog: roll: %w", err)
		}
	}
	old.seal(l.files)
	l.segs = append(l.segs, s)
	return nil
}
