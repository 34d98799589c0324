package commitlog

import (
	"fmt"
	"math"
)

// Append writes recs as one RecordBatch and returns the offset of the first.
// It sets each recs[i].Offset (and Timestamp when 0). When it returns nil,
// the batch is durable as the FsyncPolicy promises.
func (l *Log) Append(recs []Record) (base int64, err error) {
	if len(recs) == 0 {
		return 0, ErrEmpty
	}
	l.mu.Lock()
	if err := l.writableLocked(); err != nil {
		l.mu.Unlock()
		return 0, err
	}
	now := l.opts.Now().UnixMilli()
	base = l.next
	for i := range recs {
		if recs[i].Timestamp == 0 {
			recs[i].Timestamp = now
		}
	}
	b, info := l.enc.encode(base, recs)
	if len(b) > l.opts.MaxBatchBytes {
		l.mu.Unlock()
		return 0, fmt.Errorf("commitlog: %d byte batch: %w", len(b), ErrBatchTooLarge)
	}
	end, err := l.writeLocked(b, info)
	if err == nil {
		for i := range recs {
			recs[i].Offset = base + int64(i)
		}
	}
	l.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return base, l.afterWrite(end)
}

// AppendBatch appends one encoded Kafka RecordBatch v2 (as a producer sent
// it): it checks the CRC, assigns offsets by rewriting the base offset, and
// returns the first offset. The caller may reuse batch after it returns.
//
// The batch must be uncompressed and not a control batch (ErrUnsupported),
// have exactly as many records as it says with offset deltas 0..n-1, and be
// at most MaxBatchBytes; anything malformed is an ErrCorrupt error. Record
// timestamps are stored as the producer set them.
func (l *Log) AppendBatch(batch []byte) (base int64, err error) {
	if len(batch) > l.opts.MaxBatchBytes {
		return 0, fmt.Errorf("commitlog: %d byte batch: %w", len(batch), ErrBatchTooLarge)
	}
	info, err := checkBatch(batch)
	if err != nil {
		return 0, fmt.Errorf("commitlog: append batch: %w", err)
	}
	l.mu.Lock()
	if err := l.writableLocked(); err != nil {
		l.mu.Unlock()
		return 0, err
	}
	base = l.next
	b := append(l.enc.buf[:0], batch...)
	l.enc.buf = b
	setBaseOffset(b, base)
	info.base = base
	end, err := l.writeLocked(b, info)
	l.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return base, l.afterWrite(end)
}

func (l *Log) writableLocked() error {
	if l.closed {
		return ErrClosed
	}
	return l.failed
}

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
			l.failed = fmt.Errorf("commitlog: segment %d unusable after a failed write: %w", act.base, terr)
		}
		return 0, fmt.Errorf("commitlog: write: %w", err)
	}
	act.noteBatch(info, pos, l.opts.IndexIntervalBytes)
	l.bytes += int64(len(b))
	l.written += int64(len(b))
	l.next = info.next()
	if l.opts.Fsync != FsyncAlways {
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
			l.failed = fmt.Errorf("commitlog: fsync: %w", err)
			return l.failed
		}
		l.synced = l.written
		l.advanceLocked(l.next)
	}
	if err := old.writeIndex(l.dir, durable); err != nil {
		return err
	}
	s, err := createSegment(l.dir, l.next)
	if err != nil {
		return err
	}
	if durable {
		if err := syncDir(l.dir); err != nil {
			s.f.Close()
			return fmt.Errorf("commitlog: roll: %w", err)
		}
	}
	l.segs = append(l.segs, s)
	return nil
}
