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
// fsync policy) is never in the log twice. The cut is fsynced before
// TruncateTo returns, and the high watermark moves back to offset.
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
	l.segs = append(l.segs[:k:k], ns)
	l.next, l.hwm = ns.next, ns.next
	// Everything left is durable: the cut segment was just fsynced and the
	// earlier ones when they were rolled.
	l.synced = l.written
	return nil
}

// StartAt empties the log so that it starts, and the next append goes, at
// offset, which must be at least the next offset (a *RangeError if not).
//
// A replicated partition needs it: a replica catching up to a snapshot
// whose missing records every other replica has since deleted by retention
// cannot copy them, and would have deleted them too; it starts where the
// others' logs now start, as a Kafka follower does below its leader's log
// start offset. The old segments are removed first and the new one created
// after, so a crash in between leaves a log that starts at or before
// offset with nothing lost that was meant to stay.
func (l *Log) StartAt(offset int64) error {
	defer l.lockAll()()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if offset < l.next {
		return fmt.Errorf("commitlog: %w: start at %d, before the log's end %d", ErrOffsetOutOfRange, offset, l.next)
	}
	fail := func(err error) error {
		l.failed = fmt.Errorf("%w: start at %d: %w", ErrFailed, offset, err)
		return l.failed
	}
	for _, s := range l.segs {
		if s == l.active() {
			s.seal(l.files)
		}
		if err := s.remove(l.dir, l.files); err != nil {
			return fail(err)
		}
	}
	// The removals are durable before the new segment exists, so a crash
	// never leaves old segments beside it (a gap Open would report).
	if err := syncDir(l.dir); err != nil {
		return fail(err)
	}
	s, err := createSegment(l.dir, offset, l.files)
	if err != nil {
		return fail(err)
	}
	if err := syncDir(l.dir); err != nil {
		s.seal(l.files)
		l.files.drop(s.h)
		return fail(err)
	}
	l.segs = []*segment{s}
	l.bytes = 0
	l.next = offset
	l.synced = l.written
	l.advanceLocked(offset)
	return nil
}

// batchPosLocked returns the byte position in s of the batch whose base
// offset is offset, walking the batch headers from the index entry before
// it; an error if offset falls inside a batch.
func (l *Log) batchPosLocked(s *segment, offset int64) (int64, error) {
	if offset == s.base {
		return 0, nil
	}
	var pos int64
	for _, e := range s.index {
		if s.base+int64(e.rel) > offset {
			break
		}
		pos = int64(e.pos)
	}
	f, err := os.Open(segmentPath(l.dir, s.base, logSuffix))
	if err != nil {
		return 0, fmt.Errorf("commitlog: truncate: %w", err)
	}
	defer f.Close()
	var hdr [recordbatch.LengthFieldEnd]byte
	for pos < s.size {
		if _, err := f.ReadAt(hdr[:], pos); err != nil {
			if err == io.EOF {
				break
			}
			return 0, fmt.Errorf("commitlog: truncate: %w", err)
		}
		base := int64(binary.BigEndian.Uint64(hdr[recordbatch.OffBaseOffset:]))
		switch {
		case base == offset:
			return pos, nil
		case base > offset:
			return 0, fmt.Errorf("commitlog: truncate to %d: inside the batch before %d", offset, base)
		}
		pos += recordbatch.LengthFieldEnd + int64(binary.BigEndian.Uint32(hdr[recordbatch.OffLength:]))
	}
	return 0, fmt.Errorf("commitlog: truncate to %d: not a batch boundary of segment %d", offset, s.base)
}

// NextOffset is the offset the next appended record gets (the high
// watermark once everything appended is durable).
func (l *Log) NextOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}
