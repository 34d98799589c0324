package commitlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// Read sizing: one pread fetches at most maxReadChunk bytes (more only for a
// single larger batch); OffsetForTimestamp reads readChunk at a time.
const (
	readChunk    = 64 << 10
	maxReadChunk = 1 << 20
)

// Read returns up to maxRecords records (and roughly maxBytes of record data,
// but always at least one record if any exists) starting at offset. offset ==
// HighWatermark returns no records and no error; outside [Earliest, HWM] is a
// *RangeError.
//
// Record data counts key, value and header bytes. The returned records own
// their bytes: keys and values alias one freshly allocated read buffer per
// pread (sized from the segment's average record size), never the log's.
func (l *Log) Read(offset int64, maxRecords, maxBytes int) ([]Record, error) {
	// Segment files stay open while filesMu is read-locked, so the preads
	// run without mu and never hold up appends.
	l.filesMu.RLock()
	defer l.filesMu.RUnlock()
	hwm, segs, err := l.readStart(offset)
	if err != nil {
		return nil, err
	}
	if offset == hwm || maxRecords <= 0 {
		return nil, nil
	}
	recs := make([]Record, 0, min(int64(maxRecords), hwm-offset, 1024))
	budget := maxBytes
	for _, s := range segs {
		stopped, err := l.readSegment(s, offset, hwm, &recs, maxRecords, &budget)
		if err != nil {
			return nil, fmt.Errorf("commitlog: read offset %d: %w", offset, err)
		}
		if stopped {
			break
		}
	}
	return recs, nil
}

// readSegment appends to recs the records of s from offset (or after the
// last record in recs) below hwm, and reports whether the read is complete.
// Damage it meets is recorded (recordCorrupt) and the segment read again
// from where it stopped, so the records around the damage are returned.
func (l *Log) readSegment(s *segment, offset, hwm int64, recs *[]Record, maxRecords int, budget *int) (bool, error) {
	for {
		from := offset
		if n := len(*recs); n > 0 {
			from = (*recs)[n-1].Offset + 1
		}
		from = max(from, s.base) // damage may end where s begins
		if from >= hwm || len(*recs) >= maxRecords {
			return true, nil
		}
		l.mu.Lock()
		v, err := l.viewLocked(s, lookupOffset(s.index, uint32(from-s.base)), s.readHint(maxRecords-len(*recs), *budget, l.opts.IndexIntervalBytes))
		l.mu.Unlock()
		if err != nil {
			return false, err
		}
		stopped := false
		err = v.eachBatch(func(b []byte) (bool, error) {
			base := recordbatch.BaseOffset(b)
			count := int64(recordbatch.NumRecords(b))
			if base+count <= from {
				return false, nil // wholly before from: skip without decoding
			}
			var err error
			*recs, *budget, stopped, err = appendRecords(&l.dec, *recs, b, from, hwm, maxRecords, *budget)
			return stopped, err
		})
		var ce *corruptAtError
		if errors.As(err, &ce) {
			err = l.recordCorrupt(s, v, ce)
		}
		v.release()
		if ce == nil || err != nil {
			return stopped, err
		}
	}
}

// readStart returns, checked under mu, the high watermark and the segments
// from the one holding offset on (their elements are never modified in
// place). Readers call it with filesMu read-locked, so that the segments'
// files stay open while they read without mu.
func (l *Log) readStart(offset int64) (int64, []*segment, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, nil, ErrClosed
	}
	if err := l.checkRangeLocked(offset); err != nil {
		return 0, nil, err
	}
	return l.hwm, l.segs[l.segmentForLocked(offset):], nil
}

// checkRangeLocked returns a *RangeError unless offset is in [Earliest, HWM].
func (l *Log) checkRangeLocked(offset int64) error {
	if earliest := l.segs[0].base; offset < earliest || offset > l.hwm {
		return &RangeError{Offset: offset, Earliest: earliest, HighWatermark: l.hwm}
	}
	return nil
}

// segmentForLocked returns the index of the segment holding offset (or the
// active one for offset == next).
func (l *Log) segmentForLocked(offset int64) int {
	return max(sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset })-1, 0)
}

// readHint estimates how many bytes of s a read of n records and budget
// bytes needs past its index entry, from the segment's average record size.
// Guarded by Log.mu.
func (s *segment) readHint(n, budget, interval int) int {
	records := max(s.next-s.base, 1)
	est := s.size/records*int64(n) + s.size/records/8*int64(n) + recordbatch.HeaderLen
	return int(min(est, int64(max(budget, 0)), maxReadChunk)) + interval
}

// OffsetForTimestamp returns the first offset whose timestamp is >= ts, or
// the high watermark if there is none.
func (l *Log) OffsetForTimestamp(ts int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	for _, s := range l.segs {
		if s.size == 0 || s.maxTS < ts || s.base >= l.hwm {
			continue
		}
		found := int64(-1)
		for {
			v, err := l.viewLocked(s, lookupTime(s.index, ts), readChunk)
			if err != nil {
				return 0, fmt.Errorf("commitlog: offset for timestamp %d: %w", ts, err)
			}
			err = v.eachBatch(func(b []byte) (bool, error) {
				off, ok, err := firstAtOrAfter(&l.dec, b, ts)
				if ok {
					found = off
				}
				return ok, err
			})
			var ce *corruptAtError
			if errors.As(err, &ce) {
				// Resolved under mu: this method reads under it anyway.
				r, err := v.resolve(ce, s.next)
				v.release()
				if err != nil {
					return 0, fmt.Errorf("commitlog: offset for timestamp %d: %w", ts, err)
				}
				if s.addSkip(r) && l.opts.OnCorrupt != nil {
					l.opts.OnCorrupt(r)
				}
				continue
			}
			v.release()
			if err != nil {
				return 0, fmt.Errorf("commitlog: offset for timestamp %d: %w", ts, err)
			}
			break
		}
		if found >= 0 {
			return min(found, l.hwm), nil
		}
	}
	return l.hwm, nil
}

// firstAtOrAfter returns the offset of the first record of the framed batch b
// whose timestamp is >= ts.
func firstAtOrAfter(d *decoder, b []byte, ts int64) (int64, bool, error) {
	h, err := recordbatch.ParseHeader(b)
	if err != nil {
		return 0, false, batchError(err)
	}
	it, _, done, err := d.records(b)
	if err != nil {
		return 0, false, err
	}
	defer done()
	var v recordbatch.View
	for it.Next(&v) {
		if h.FirstTimestamp+v.TimestampDelta >= ts {
			return h.BaseOffset + int64(v.OffsetDelta), true, nil
		}
	}
	return 0, false, batchError(it.Err())
}

// segmentView is what a read needs of a segment, copied under Log.mu so that
// the read itself can run without it (holding Log.filesMu for reading).
type segmentView struct {
	h      *cachedFile // referenced until release
	files  *FileCache
	f      *os.File
	base   int64
	size   int64          // the segment's size when the view was taken
	pos    uint32         // where to start reading
	expect int64          // the base offset of the batch at pos
	hint   int            // how many bytes the reader expects to need
	skips  []CorruptRange // what the segment's reads step over (gaps); never modified
	// stop is the high watermark when the view was taken: the walk ends
	// at the batch starting there, never checking (or reporting damage
	// in) what no reader may see yet, which a held log may still cut.
	stop int64
}

// viewLocked returns a view of s from the batch that the index entry e
// names, holding its file open (opening it if the cache closed it) until
// the view's release.
//
// A sealed segment whose file is gone (removed under the running log, an
// operator's rm) becomes one damaged range, as Open treats a missing
// segment: its offsets read as absent and the view, holding no file, steps
// over them. Every read of them failed instead, and a consumer group that
// reached them stalled there until a restart.
func (l *Log) viewLocked(s *segment, e indexEntry, hint int) (segmentView, error) {
	return l.viewOfLocked(s, e, hint, s.gaps())
}

// viewOfLocked is viewLocked stepping over skips (s.gaps(), or only its
// damage for a read that serves voided batches too).
func (l *Log) viewOfLocked(s *segment, e indexEntry, hint int, skips []CorruptRange) (segmentView, error) {
	f, err := l.files.acquire(s.h)
	if errors.Is(err, fs.ErrNotExist) && s != l.active() {
		r := CorruptRange{Segment: s.base, Pos: 0, End: s.size, From: s.base, To: s.next}
		if s.addSkip(r) && l.opts.OnCorrupt != nil {
			l.opts.OnCorrupt(r)
		}
		return segmentView{base: s.base, size: s.size, pos: e.pos, expect: s.base + int64(e.rel), hint: hint, skips: s.gaps(), stop: l.hwm}, nil
	}
	if err != nil {
		return segmentView{}, err
	}
	return segmentView{h: s.h, files: l.files, f: f, base: s.base, size: s.size, pos: e.pos,
		expect: s.base + int64(e.rel), hint: hint, skips: skips, stop: l.hwm}, nil
}

// release lets the cache close the view's file again.
func (v segmentView) release() {
	if v.h != nil {
		v.files.release(v.h)
	}
}

// eachBatch calls fn with each framed batch (length, magic and CRC checked)
// of the view from its position on, until fn returns true or an error, or the
// view ends, or it reaches v.stop. Known damage (v.skips) is stepped over; a
// batch that fails its checks elsewhere ends the walk with a *corruptAtError.
//
// Each pread goes to a new buffer that is never reused, so fn may keep slices
// of b: Read's records alias it instead of copying. The hint keeps what such
// records pin close to what they hold.
func (v segmentView) eachBatch(fn func(b []byte) (bool, error)) error {
	return v.eachBatchIn(freshBuf, fn)
}

// freshBuf is eachBatch's buffer for one pread.
func freshBuf(n, _ int) []byte { return make([]byte, n) }

// eachBatchIn is eachBatch reading each chunk into next(n, need), between
// need and n bytes that the caller provides (nil ends the walk): ReadBatches reads straight
// into its output, no more than it has room for. need is what the walk
// must see to go on: a length field, or the whole batch a chunk cut.
func (v segmentView) eachBatchIn(next func(n, need int) []byte, fn func(b []byte) (bool, error)) error {
	at, expect := int64(v.pos), v.expect
	want := min(max(v.hint, recordbatch.LengthFieldEnd), maxReadChunk)
	need := recordbatch.LengthFieldEnd
	si := 0 // v.skips[si:] end after at
	bad := func(err error) error { return &corruptAtError{seg: v.base, pos: at, expect: expect, err: err} }
	for at < v.size {
		for si < len(v.skips) && v.skips[si].End <= at && v.skips[si].Pos < at {
			si++
		}
		if si < len(v.skips) && v.skips[si].Pos <= at {
			at, expect = v.skips[si].End, v.skips[si].To
			si++
			continue
		}
		if expect >= v.stop {
			return nil
		}
		if v.size-at < recordbatch.LengthFieldEnd {
			return bad(corruptf("%d stray bytes", v.size-at))
		}
		limit := v.size // the next known damage ends this stretch
		if si < len(v.skips) {
			limit = v.skips[si].Pos
		}
		buf := next(int(min(limit-at, int64(want))), need)
		if buf == nil {
			return nil // the caller has what it can take
		}
		if len(buf) < recordbatch.LengthFieldEnd {
			return bad(corruptf("%d stray bytes before damage at %d", limit-at, limit))
		}
		if _, err := v.f.ReadAt(buf, at); err != nil {
			return err
		}
		for p := buf; len(p) >= recordbatch.LengthFieldEnd && expect < v.stop; {
			n, ok := recordbatch.Len(p)
			if !ok || at+int64(n) > limit {
				return bad(corruptf("bad batch length"))
			}
			if n > len(p) {
				want, need = max(want, n), n
				break
			}
			need = recordbatch.LengthFieldEnd
			if _, err := checkFrame(p[:n]); err != nil {
				return bad(err)
			}
			// The base offset is outside the CRC: damage there passes it.
			if base := recordbatch.BaseOffset(p); base != expect {
				return bad(corruptf("base offset %d, want %d", base, expect))
			}
			// fn may move b's bytes (ReadBatches does): nothing of p is
			// read after it.
			count := recordbatch.NumRecords(p)
			stop, err := fn(p[:n])
			if stop || err != nil {
				return err
			}
			expect += int64(count)
			at += int64(n)
			p = p[n:]
		}
	}
	return nil
}
