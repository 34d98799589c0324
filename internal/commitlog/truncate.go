package commitlog

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// TruncateTo removes every record at or after offset, so the next append
// gets offset. offset must start a batch (or be the next offset, which
// changes nothing) and be at least EarliestOffset; otherwise the log is left
// as it was and the error says why (a *RangeError for an offset outside
// [EarliestOffset, next]).
//
// A replicated partition needs it: its state machine restores the log to
// the end recorded in its last Raft snapshot and applies the entries after
// it again, so an entry applied before a crash (or a torn tail whatever the
// fsync policy) is never in the log twice. And a held log (see
// HoldWatermark) that is a Raft log cuts there what a new leader
// replaces. The cut is fsynced before TruncateTo returns. The high
// watermark moves back to offset if it was above it; below it, a log not
// held raises it to offset (all it keeps is now durable), and a held log
// keeps it where it was. Voids (see Void) at or after offset are
// forgotten, before the cut.
//
// The segments after the one holding offset are deleted; that one is cut
// at the batch and reopened as the active segment (its index rebuilt by
// the same scan Open uses). No read is in flight meanwhile: filesMu is held.
func (l *Log) TruncateTo(offset int64) error {
	defer l.lockAll()()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if offset == l.next {
		return nil
	}
	if offset > l.next || offset < l.segs[0].base {
		return &RangeError{Offset: offset, Earliest: l.segs[0].base, HighWatermark: l.next}
	}
	k := l.segmentForLocked(offset)
	s := l.segs[k]
	pos, err := l.batchPosLocked(s, offset)
	if err != nil {
		return err
	}
	// From here on a failure leaves the files in a state only Open can
	// judge: the log refuses appends until it is reopened.
	fail := func(err error) error {
		l.failed = fmt.Errorf("%w: truncate to %d: %w", ErrFailed, offset, err)
		return l.failed
	}
	// The void file first: were the cut made first, a crash before the
	// file's rewrite would leave records naming offsets that the batches
	// appended after the cut take. A failed rewrite may have replaced the
	// file or not: Open judges which, and the owner cuts again.
	if err := l.dropVoidsLocked(func(o int64) bool { return o >= offset }); err != nil {
		return fail(err)
	}
	for _, t := range l.segs[k+1:] {
		if t == l.active() {
			t.seal(l.files)
		}
		if err := t.remove(l.dir, l.files); err != nil {
			return fail(err)
		}
		l.bytes -= t.size
	}
	if s == l.active() {
		s.seal(l.files)
	}
	if err := l.files.drop(s.h); err != nil {
		return fail(err)
	}
	if err := os.Truncate(segmentPath(l.dir, s.base, logSuffix), pos); err != nil {
		return fail(err)
	}
	for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
		if err := os.Remove(segmentPath(l.dir, s.base, suffix)); err != nil && !os.IsNotExist(err) {
			return fail(err)
		}
	}
	ns, _, err := openSegment(l.dir, s.base, -1, l.opts)
	if err != nil {
		return fail(err)
	}
	if err := ns.f.Sync(); err != nil {
		ns.f.Close()
		return fail(err)
	}
	if err := syncDir(l.dir); err != nil {
		ns.f.Close()
		return fail(err)
	}
	ns.h = l.files.add(ns.f.Name(), ns.f, 1) // the writer's
	if ns.size > 0 {
		ns.created = timeOf(min(ns.firstTS, l.opts.Now().UnixMilli()))
	}
	l.bytes += ns.size - s.size
	// The voids before the cut stay: ns is s's file, cut after them.
	for _, r := range s.voids {
		if r.From < offset {
			ns.addVoid(r)
		}
	}
	l.segs = append(l.segs[:k:k], ns)
	l.next = ns.next
	l.lowerLocked(ns.next, ns.size)
	if !l.held {
		l.advanceLocked(ns.next)
	}
	// Everything left is durable: the cut segment was just fsynced and the
	// earlier ones when they were rolled.
	l.synced = l.written
	return nil
}

// StartAt empties the log so that it starts, and the next append goes, at
// offset. offset must be at least the next offset, or at most the earliest
// one: the log then holds no record below offset, so none is lost that was
// meant to stay. An offset between the two is refused (ErrOffsetOutOfRange)
// and the log left as it was: TruncateTo cuts there.
//
// A replicated partition needs it twice. A replica catching up to a
// snapshot whose missing records every other replica has since deleted by
// retention cannot copy them, and would have deleted them too; it starts
// where the others' logs now start, as a Kafka follower does below its
// leader's log start offset. And a replica restoring a snapshot whose end
// its own retention has since passed cannot cut its log back to that end
// (TruncateTo refuses an offset below the earliest): it starts over there,
// and the entries after the snapshot are applied again.
//
// Every record goes. A crash midway leaves a log holding only records at
// their offsets, none below offset that StartAt would keep, which StartAt
// again finishes (see startSteps). Like TruncateTo, each step is fsynced,
// whatever the fsync policy; a step that fails fails the log.
func (l *Log) StartAt(offset int64) error {
	defer l.lockAll()()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if first := l.segs[0].base; offset > first && offset < l.next {
		return fmt.Errorf("%w: start at %d, inside the log [%d, %d)", ErrOffsetOutOfRange, offset, first, l.next)
	}
	for _, step := range l.startSteps(offset) {
		if err := step(); err != nil {
			l.failed = fmt.Errorf("%w: start at %d: %w", ErrFailed, offset, err)
			return l.failed
		}
	}
	return nil
}

// startSteps are StartAt's steps, in order; mu, filesMu and syncMu are
// held. After each, the files are a log Open reads without damage (no gap,
// no torn batch) holding records at their offsets and none below offset
// that StartAt would keep, so a restart finds it as a replica left it or
// ready for StartAt again:
//
//  0. The void file is removed (see the step).
//  1. The segments after the first are removed, newest first, and the
//     removals made durable: the first segment, emptied next, must never
//     be seen empty beside later ones (a gap). A crash midway leaves a
//     prefix of them where the file system keeps the order of directory
//     changes; elsewhere a gap, which Open reports as damage and StartAt
//     again clears.
//  2. The first segment is emptied (its index files removed, its file
//     cut to nothing and fsynced): an empty log at its base.
//  3. Its file is renamed to offset's (atomic), and the directory synced:
//     an empty log at offset, which becomes the active segment.
func (l *Log) startSteps(offset int64) []func() error {
	// The active segment as StartAt found it: step 1 shortens l.segs, so
	// l.active() would name each segment in turn, and sealing a sealed
	// one releases its file a second time (left open for good).
	first, act := l.segs[0], l.active()
	return []func() error{
		// 0. The void file goes first (see void.go): a crash after it
		// leaves batches that StartAt again removes, never a record naming
		// an offset a new batch will take.
		func() error {
			return l.dropVoidsLocked(func(int64) bool { return true })
		},
		func() error {
			rest := l.segs[1:]
			for i := len(rest) - 1; i >= 0; i-- {
				s := rest[i]
				if s == act {
					s.seal(l.files)
				}
				if err := s.remove(l.dir, l.files); err != nil {
					return err
				}
				l.segs = l.segs[:i+1]
				l.bytes -= s.size
			}
			if len(rest) == 0 {
				return nil
			}
			return syncDir(l.dir)
		},
		func() error {
			if first == act {
				first.seal(l.files)
			}
			if err := l.files.drop(first.h); err != nil {
				return err
			}
			for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
				if err := os.Remove(segmentPath(l.dir, first.base, suffix)); err != nil && !os.IsNotExist(err) {
					return err
				}
			}
			f, err := os.OpenFile(segmentPath(l.dir, first.base, logSuffix), os.O_RDWR, 0)
			if err != nil {
				return err
			}
			err = f.Truncate(0)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			return err
		},
		func() error {
			if offset != first.base {
				if err := os.Rename(segmentPath(l.dir, first.base, logSuffix), segmentPath(l.dir, offset, logSuffix)); err != nil {
					return err
				}
			}
			s, err := createSegment(l.dir, offset, l.files)
			if err != nil {
				return err
			}
			if err := syncDir(l.dir); err != nil {
				s.seal(l.files)
				l.files.drop(s.h)
				return err
			}
			l.segs = []*segment{s}
			l.bytes = 0
			l.next = offset
			l.hwm = min(l.hwm, offset)
			l.hwmPos, l.pending = 0, nil
			l.synced = l.written
			l.advanceLocked(offset)
			return nil
		},
	}
}

// batchPosLocked returns the byte position in s of the batch whose base
// offset is offset, walking the batch headers from the index entry before
// it; an ErrNotBoundary error if offset falls inside a batch.
func (l *Log) batchPosLocked(s *segment, offset int64) (int64, error) {
	return l.batchPosFromLocked(s, offset, s.base, 0)
}

// batchPosFromLocked is batchPosLocked told of a batch boundary in s
// before offset, from (at byte position fromPos): the walk starts there
// if it is nearer than the index entry before offset.
func (l *Log) batchPosFromLocked(s *segment, offset, from, fromPos int64) (int64, error) {
	if offset == s.base {
		return 0, nil
	}
	pos := int64(0)
	for _, e := range s.index {
		if s.base+int64(e.rel) > offset {
			break
		}
		pos = int64(e.pos)
	}
	if from <= offset && fromPos > pos {
		pos = fromPos
	}
	f, err := os.Open(segmentPath(l.dir, s.base, logSuffix))
	if err != nil {
		return 0, fmt.Errorf("commitlog: find batch %d: %w", offset, err)
	}
	defer f.Close()
	var hdr [recordbatch.LengthFieldEnd]byte
	for pos < s.size {
		if _, err := f.ReadAt(hdr[:], pos); err != nil {
			if err == io.EOF {
				break
			}
			return 0, fmt.Errorf("commitlog: find batch %d: %w", offset, err)
		}
		base := int64(binary.BigEndian.Uint64(hdr[recordbatch.OffBaseOffset:]))
		switch {
		case base == offset:
			return pos, nil
		case base > offset:
			return 0, fmt.Errorf("commitlog: offset %d: inside the batch before %d: %w", offset, base, ErrNotBoundary)
		}
		pos += recordbatch.LengthFieldEnd + int64(binary.BigEndian.Uint32(hdr[recordbatch.OffLength:]))
	}
	return 0, fmt.Errorf("commitlog: offset %d in segment %d: %w", offset, s.base, ErrNotBoundary)
}

// NextOffset is the offset the next appended record gets (the high
// watermark once everything appended is durable, and, while the log is
// held, released).
func (l *Log) NextOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}
