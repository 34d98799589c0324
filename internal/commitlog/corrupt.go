package commitlog

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// Corruption policy.
//
// Only a torn tail of the active segment is cut: that is where a crash
// leaves a half-written batch, and nothing valid can follow it. Anywhere
// else, bytes that fail their checks are skipped, never cut: the damaged
// range becomes a CorruptRange, its offsets [From, To) read as absent, every
// intact batch before and after it stays readable, the high watermark does
// not move and no segment is deleted.
//
// How a torn tail is told from damage in the middle: after the first invalid
// batch, resync searches the rest of the segment for a valid batch (magic,
// length, CRC-32C, records, and a base offset above the damaged one). If one
// is found, what lies between is damage in the middle of the log; if none
// is, the rest of the active segment is a torn tail. In a sealed segment a
// damaged end runs to the base offset of the next segment, which is known.
//
// Damage is found when Open scans a segment (always the active one; a sealed
// one whose index files are missing or inconsistent), when a read meets a
// batch whose CRC fails, and by Verify, which checks every sealed segment in
// full. Each new range found after Open is passed to Options.OnCorrupt.

// CorruptRange is one damaged stretch of a segment file: the bytes
// [Pos, End) of the segment with base offset Segment, which held the offsets
// [From, To). Reads skip it; its offsets read as absent.
type CorruptRange struct {
	Segment  int64
	Pos, End int64
	From, To int64
}

func (r CorruptRange) String() string {
	return fmt.Sprintf("segment %d bytes [%d, %d) offsets [%d, %d)", r.Segment, r.Pos, r.End, r.From, r.To)
}

// resyncWindow is how much of a segment one pread of resync examines.
const resyncWindow = 1 << 20

// resync looks for the first valid batch that starts after the invalid one at
// pos (whose base offset should have been expect) and before end. It reports
// the batch's position and description, or ok false if there is none: then
// everything from pos on is a torn tail (or, in a sealed segment, damage up
// to its end).
//
// A candidate must carry magic 2, a length that fits, a plausible header
// (see plausibleHeader) and pass checkBatch (CRC-32C and records): random
// bytes pass all of that with a chance far below 2^-60. A producer could
// plant such a batch inside a record's value, but it is looked for only
// after damage, which no producer can cause.
func resync(r io.ReaderAt, pos, end, expect int64) (int64, batchInfo, bool, error) {
	buf := make([]byte, resyncWindow+recordbatch.HeaderLen)
	for start := pos + 1; start+recordbatch.HeaderLen <= end; start += resyncWindow {
		b := buf[:min(int64(len(buf)), end-start)]
		if _, err := r.ReadAt(b, start); err != nil {
			return 0, batchInfo{}, false, fmt.Errorf("commitlog: resync: %w", err)
		}
		for i := 0; i < resyncWindow && i+recordbatch.HeaderLen <= len(b); i++ {
			h := b[i:]
			if h[recordbatch.OffMagic] != recordbatch.Magic {
				continue
			}
			q := start + int64(i)
			n, ok := recordbatch.Len(h)
			if !ok || q+int64(n) > end || !plausibleHeader(h, n, pos, q, expect) {
				continue
			}
			cand := b[i:min(i+n, len(b))]
			if len(cand) < n {
				cand = make([]byte, n)
				if _, err := r.ReadAt(cand, q); err != nil {
					return 0, batchInfo{}, false, fmt.Errorf("commitlog: resync: %w", err)
				}
			}
			if info, err := checkBatch(cand); err == nil {
				return q, info, true, nil
			}
		}
	}
	return 0, batchInfo{}, false, nil
}

// plausibleHeader checks the header h of a resync candidate of n bytes at q
// without reading its body: the fields checkBatch would refuse, and a base
// offset above expect (the damaged batch's) but no further above it than the
// bytes from pos to q could have held (each record takes a byte or more).
// Random bytes almost never pass, so the CRC of a whole candidate (and its
// read, beyond resync's window) is rarely computed.
func plausibleHeader(h []byte, n int, pos, q, expect int64) bool {
	hd, err := recordbatch.ParseHeader(h)
	return err == nil && hd.BaseOffset > expect && hd.BaseOffset-expect <= q-pos &&
		hd.NumRecords >= 1 && hd.LastOffsetDelta == hd.NumRecords-1 &&
		int64(hd.NumRecords) <= int64(n-recordbatch.HeaderLen) &&
		hd.Compression() == recordbatch.None && !hd.Control()
}

// skipAt returns the index of the first range of rs (sorted by Pos) that
// starts at or after pos.
func skipAt(rs []CorruptRange, pos int64) int {
	return sort.Search(len(rs), func(i int) bool { return rs[i].Pos >= pos })
}

// addSkipLocked records r in s unless a range at r.Pos is known, and reports
// whether it was new. Callers hold Log.mu (or own s during Open).
func (s *segment) addSkip(r CorruptRange) bool {
	i := skipAt(s.skips, r.Pos)
	if i < len(s.skips) && s.skips[i].Pos == r.Pos {
		return false
	}
	// A new slice, never an insertion in place: readers hold copies of the
	// old one without the lock.
	s.skips = append(append(append(make([]CorruptRange, 0, len(s.skips)+1), s.skips[:i]...), r), s.skips[i:]...)
	return true
}

// corruptAtError is how a read reports an invalid batch at a position no
// known CorruptRange covers; Read resolves it through recordCorrupt.
type corruptAtError struct {
	seg    int64 // segment base
	pos    int64 // where the invalid batch starts
	expect int64 // the base offset it should have had
	err    error
}

func (e *corruptAtError) Error() string {
	return fmt.Sprintf("segment %d position %d: %v", e.seg, e.pos, e.err)
}
func (e *corruptAtError) Unwrap() error { return e.err }

// resolve finds the extent of the damage e reports in the segment that the
// view v reads (see resync) and returns it as a range; with no valid batch
// after it, the damage runs to the end of the view and to next, the
// segment's next offset.
func (v segmentView) resolve(e *corruptAtError, next int64) (CorruptRange, error) {
	r := CorruptRange{Segment: v.base, Pos: e.pos, End: v.size, From: e.expect, To: next}
	q, info, ok, err := resync(v.f, e.pos, v.size, e.expect)
	if err != nil {
		return CorruptRange{}, err
	}
	if ok {
		r.End, r.To = q, info.base
	}
	return r, nil
}

// recordCorrupt resolves a read's corruptAtError in segment s and records
// the range, telling Options.OnCorrupt if it is new. The caller holds
// filesMu for reading, not mu.
func (l *Log) recordCorrupt(s *segment, v segmentView, e *corruptAtError) error {
	l.mu.Lock()
	next := s.next
	l.mu.Unlock()
	r, err := v.resolve(e, next)
	if err != nil {
		return err
	}
	l.mu.Lock()
	added := s.addSkip(r)
	l.mu.Unlock()
	if added && l.opts.OnCorrupt != nil {
		l.opts.OnCorrupt(r)
	}
	return nil
}

// Corruption returns every damaged range the log knows of, in offset order.
func (l *Log) Corruption() []CorruptRange {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []CorruptRange
	for _, s := range l.segs {
		out = append(out, s.skips...)
	}
	return out
}

// Skipped reports whether offset, below the high watermark, lies in a
// damaged range or a voided batch (see Void), and if so the offset after
// it (at most the high watermark): the next one that may be readable. A
// consumer that meets it steps over [offset, to).
func (l *Log) Skipped(offset int64) (to int64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if offset >= l.hwm {
		return 0, false // nothing there is visible yet, not even a gap
	}
	s := l.segs[l.segmentForLocked(offset)]
	for _, rs := range [][]CorruptRange{s.skips, s.voids} {
		for _, r := range rs {
			if offset >= r.From && offset < r.To {
				return min(r.To, l.hwm), true
			}
		}
	}
	return 0, false
}

// Verify checks every sealed segment not yet checked in full (framing and
// CRC-32C of each batch), recording the damage it finds as Read does. It
// checks only segments wholly below the high watermark: what lies above
// it, while the log is held (see HoldWatermark), is no reader's yet and
// may still be cut; Verify checks it once it is released. It
// returns the number of new ranges found. It reads without holding up
// appends, and lets go of the files between segments so that retention and
// Close never wait on a whole log; it may run in the background.
func (l *Log) Verify() (found int, err error) {
	for {
		done, n, err := l.verifyOne()
		found += n
		if done || err != nil {
			return found, err
		}
	}
}

// verifyOne checks the first sealed segment not yet verified; done reports
// that there was none.
func (l *Log) verifyOne() (done bool, found int, err error) {
	l.filesMu.RLock()
	defer l.filesMu.RUnlock()
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return true, found, ErrClosed
		}
		var s *segment
		for _, c := range l.segs[:len(l.segs)-1] {
			if !c.verified && c.next <= l.hwm {
				s = c
				break
			}
		}
		if s == nil {
			l.mu.Unlock()
			return true, found, nil
		}
		v, err := l.viewLocked(s, indexEntry{tsBefore: -1}, scanChunk)
		l.mu.Unlock()
		if err != nil {
			return false, found, fmt.Errorf("commitlog: verify segment %d: %w", s.base, err)
		}
		err = v.eachBatch(func([]byte) (bool, error) { return false, nil })
		var ce *corruptAtError
		if errors.As(err, &ce) {
			err = l.recordCorrupt(s, v, ce)
		}
		v.release()
		switch {
		case ce != nil && err == nil:
			found++
			continue // again, from the start, with the new range known
		case err != nil:
			return false, found, fmt.Errorf("commitlog: verify segment %d: %w", s.base, err)
		}
		l.mu.Lock()
		s.verified = true
		l.mu.Unlock()
		return false, found, nil
	}
}
