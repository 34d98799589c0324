package commitlog

// What a replicated partition's log needs as the store of its Raft
// entries, beside holding its high watermark (hold.go) and voiding
// batches (void.go): reading an entry back whatever readers see
// (ReadRange), placing the high watermark back at a restart
// (LowerWatermark), and keeping from retention what a restart reads back
// (RetainFrom).

import (
	"fmt"
	"os"
)

// ReadRange returns the stored batches that hold offsets [from, to), whole
// and as they are on disk, whatever readers may see of them: past the
// high watermark of a held log, and voided ones too. from and to must be
// batch boundaries in [EarliestOffset, NextOffset]. It is how a replicated
// partition reads back a Raft entry it wrote (WriteBatches) as its Raft
// log is replayed at a start: rare, so it opens the segment files itself
// rather than through the file cache, and reads under the log's lock.
func (l *Log) ReadRange(from, to int64) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if from < l.segs[0].base || to > l.next || from > to {
		return nil, fmt.Errorf("commitlog: read range [%d, %d) outside the log [%d, %d): %w", from, to, l.segs[0].base, l.next, ErrOffsetOutOfRange)
	}
	var out []byte
	for _, s := range l.segs {
		if s.next <= from || s.base >= to {
			continue
		}
		start, end := int64(0), s.size
		var err error
		if from > s.base {
			if start, err = l.batchPosLocked(s, from); err != nil {
				return nil, err
			}
		}
		if to < s.next {
			if end, err = l.batchPosLocked(s, to); err != nil {
				return nil, err
			}
		}
		if out, err = readAt(out, segmentPath(l.dir, s.base, logSuffix), start, end); err != nil {
			return nil, fmt.Errorf("commitlog: read range [%d, %d): %w", from, to, err)
		}
	}
	return out, nil
}

// readAt appends bytes [start, end) of the file at path to dst.
func readAt(dst []byte, path string, start, end int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return dst, err
	}
	defer f.Close()
	n := len(dst)
	dst = append(dst, make([]byte, end-start)...)
	if _, err := f.ReadAt(dst[n:], start); err != nil {
		return dst[:n], err // io.EOF too: the file is shorter than its segment
	}
	return dst, nil
}

// LowerWatermark moves a held high watermark back to offset, a batch
// boundary in [EarliestOffset, HighWatermark], without cutting anything:
// a replicated partition restarting shows readers only what its last Raft
// snapshot covers until it has applied the entries after it again. A log
// not held returns ErrNotHeld.
func (l *Log) LowerWatermark(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.heldLocked(); err != nil {
		return err
	}
	if offset < l.segs[0].base || offset > l.hwm {
		return fmt.Errorf("%w: lower the high watermark to %d outside [%d, %d]", ErrOffsetOutOfRange, offset, l.segs[0].base, l.hwm)
	}
	s := l.segs[l.segmentForLocked(offset)]
	pos := s.size
	if offset < s.next {
		p, err := l.batchPosLocked(s, offset)
		if err != nil {
			return fmt.Errorf("commitlog: lower the high watermark: %w", err)
		}
		pos = p
	}
	l.lowerLocked(offset, pos)
	return nil
}

// RetainFrom keeps retention from deleting a segment that holds offsets
// at or after offset: a replicated partition reads the Raft entries after
// its last snapshot back from its log at a restart. A log never given one
// keeps nothing back. RetentionWaits reports whether the last
// EnforceRetention left a segment only for it.
func (l *Log) RetainFrom(offset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.retainFrom, l.retaining = offset, true
}

// RetentionWaits reports whether the last EnforceRetention kept a segment
// it would have deleted but for RetainFrom.
func (l *Log) RetentionWaits() bool { return l.retentionWaits.Load() }
