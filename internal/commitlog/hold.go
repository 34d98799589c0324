package commitlog

import (
	"fmt"
	"sort"
)

// A held high watermark.
//
// A replicated partition whose log is its Raft log writes each batch when
// Raft persists the entry that carries it, before the entry is committed,
// and a new leader may yet cut it (TruncateTo). No reader may see such a
// batch: a consumer that read it would hold a message the partition then
// never had. So the log's owner holds the high watermark, and moves it
// only to the commit point it applies (Release). The data is written once;
// the high watermark, not the bytes, says what is committed.

// boundary is the end of a batch written while the log is held: the
// offset after it, and its byte position in the segment it was written to
// (which is where the next batch goes unless a roll starts a segment
// there; hwmPos is read only when the high watermark lies inside one).
type boundary struct {
	next, pos int64
}

// HoldWatermark holds the high watermark where it is: from now on writes
// and syncs never raise it, and only Release does. Readers of every kind
// (Read, ReadBatches, ReadSize, OffsetForTimestamp, Wait, Changed, Stats,
// Verify, Skipped) see nothing at or above it, retention deletes nothing
// at or above it, and TruncateTo and StartAt lower it to their cut when
// they cut below it. A log is held for good: there is no way back.
//
// To hold a log from the start (nothing shown before its owner knows its
// commit point), open it with Options.Held instead.
func (l *Log) HoldWatermark() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held {
		return
	}
	l.held = true
	i := l.segmentForLocked(l.hwm)
	if s := l.segs[i]; l.hwm == s.next {
		l.hwmPos = s.size
	} else if pos, err := l.batchPosLocked(s, l.hwm); err == nil {
		l.hwmPos = pos
	} else {
		// The position is only for ReadSize's bound: past the end is
		// too large a bound, never a wrong read.
		l.hwmPos = s.size
	}
}

// Release raises the held high watermark to next, which readers then see
// up to, and wakes the waiters of Wait and Changed. next must be a batch
// boundary (the start of a batch, or NextOffset) in [HighWatermark,
// NextOffset]: below it an error wraps ErrOffsetOutOfRange (the high
// watermark never goes back but by TruncateTo), inside a batch
// ErrNotBoundary; next == HighWatermark changes nothing. A log not held
// returns ErrNotHeld; a closed or failed one ErrClosed or its failure
// (ErrFailed): the owner reopens it, held from its earliest offset.
//
// Release promises nothing of durability: the owner releases what its
// commit point covers, which under Raft a majority has persisted, and
// makes its own copy durable (Sync, Durable) as its policy needs.
func (l *Log) Release(next int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.heldLocked(); err != nil {
		return err
	}
	if next < l.hwm || next > l.next {
		return fmt.Errorf("%w: release to %d outside [%d, %d]", ErrOffsetOutOfRange, next, l.hwm, l.next)
	}
	if next == l.hwm {
		return nil
	}
	seg := l.segs[l.segmentForLocked(next)]
	// A batch written since the hold is found in pending; one written
	// before it (or before Open) by reading its segment's headers.
	k := sort.Search(len(l.pending), func(i int) bool { return l.pending[i].next >= next })
	var pos int64
	switch {
	case k < len(l.pending) && l.pending[k].next == next:
		pos = l.pending[k].pos
	case next == seg.next:
		pos = seg.size
	default:
		// From the high watermark if it is in seg: a held log reopened
		// releases batch after batch from its start, each found by
		// reading its header only.
		from, fromPos := seg.base, int64(0)
		if l.hwm > seg.base {
			from, fromPos = l.hwm, l.hwmPos
		}
		p, err := l.batchPosFromLocked(seg, next, from, fromPos)
		if err != nil {
			return fmt.Errorf("commitlog: release to %d: %w", next, err)
		}
		pos = p
	}
	if k < len(l.pending) && l.pending[k].next == next {
		k++
	}
	l.pending = l.pending[k:]
	l.hwmPos = pos
	l.advanceLocked(next)
	return nil
}

// heldLocked is nil for a held log that may be written, else why not.
func (l *Log) heldLocked() error {
	if err := l.writableLocked(); err != nil {
		return err
	}
	if !l.held {
		return ErrNotHeld
	}
	return nil
}

// notePendingLocked records, while held, the end of the batch just
// written to the active segment.
func (l *Log) notePendingLocked() {
	l.pending = append(l.pending, boundary{next: l.next, pos: l.active().size})
}

// lowerLocked moves the high watermark back to offset, a batch boundary at
// byte position pos of the segment holding it, if it is above it (a cut),
// and forgets the pending boundaries past offset.
func (l *Log) lowerLocked(offset, pos int64) {
	if offset < l.hwm {
		l.hwm, l.hwmPos = offset, pos
	}
	k := sort.Search(len(l.pending), func(i int) bool { return l.pending[i].next > offset })
	l.pending = l.pending[:k]
}

// visibleEndLocked is where, in s, what readers may see ends: its size,
// or while held the position of the high watermark if that lies in s.
func (l *Log) visibleEndLocked(s *segment) int64 {
	switch {
	case !l.held || s.next <= l.hwm:
		return s.size
	case s.base >= l.hwm:
		return 0
	}
	return l.hwmPos
}
