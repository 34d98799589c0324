package commitlog

import (
	"encoding/binary"
	"fmt"
	"os"
	"sort"
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
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	if err := l.checkRangeLocked(offset); err != nil {
		l.mu.Unlock()
		return nil, err
	}
	hwm := l.hwm
	segs := l.segs[l.segmentForLocked(offset):] // elements are never modified in place
	l.mu.Unlock()
	if offset == hwm || maxRecords <= 0 {
		return nil, nil
	}
	recs := make([]Record, 0, min(int64(maxRecords), hwm-offset, 1024))
	budget := maxBytes
	for _, s := range segs {
		from := max(offset, s.base)
		if len(recs) > 0 {
			from = recs[len(recs)-1].Offset + 1
		}
		if from >= hwm || len(recs) >= maxRecords {
			break
		}
		l.mu.Lock()
		v := s.viewLocked(lookupOffset(s.index, uint32(from-s.base)).pos, s.readHint(maxRecords-len(recs), budget, l.opts.IndexIntervalBytes))
		l.mu.Unlock()
		stopped := false
		err := v.eachBatch(func(b []byte) (bool, error) {
			base := int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
			count := int64(int32(binary.BigEndian.Uint32(b[offRecordCount:])))
			if base+count <= from {
				return false, nil // wholly before from: skip without decoding
			}
			var err error
			recs, budget, stopped, err = appendRecords(recs, b, from, hwm, maxRecords, budget)
			return stopped, err
		})
		if err != nil {
			return nil, fmt.Errorf("commitlog: read offset %d: %w", offset, err)
		}
		if stopped {
			break
		}
	}
	return recs, nil
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
	est := s.size/records*int64(n) + s.size/records/8*int64(n) + batchHeaderLen
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
		err := s.viewLocked(lookupTime(s.index, ts).pos, readChunk).eachBatch(func(b []byte) (bool, error) {
			off, ok, err := firstAtOrAfter(b, ts)
			if ok {
				found = off
			}
			return ok, err
		})
		if err != nil {
			return 0, fmt.Errorf("commitlog: offset for timestamp %d: %w", ts, err)
		}
		if found >= 0 {
			return min(found, l.hwm), nil
		}
	}
	return l.hwm, nil
}

// firstAtOrAfter returns the offset of the first record of the framed batch b
// whose timestamp is >= ts.
func firstAtOrAfter(b []byte, ts int64) (int64, bool, error) {
	base := int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	first := int64(binary.BigEndian.Uint64(b[offFirstTimestamp:]))
	count := int(int32(binary.BigEndian.Uint32(b[offRecordCount:])))
	p, err := recordData(b)
	if err != nil {
		return 0, false, err
	}
	for range count {
		v, rest, err := nextRecord(p)
		if err != nil {
			return 0, false, err
		}
		if first+v.timestampDelta >= ts {
			return base + int64(v.offsetDelta), true, nil
		}
		p = rest
	}
	return 0, false, nil
}

// segmentView is what a read needs of a segment, copied under Log.mu so that
// the read itself can run without it (holding Log.filesMu for reading).
type segmentView struct {
	f    *os.File
	base int64
	size int64  // the segment's size when the view was taken
	pos  uint32 // where to start reading
	hint int    // how many bytes the reader expects to need
}

func (s *segment) viewLocked(pos uint32, hint int) segmentView {
	return segmentView{f: s.f, base: s.base, size: s.size, pos: pos, hint: hint}
}

// eachBatch calls fn with each framed batch (length, magic and CRC checked)
// of the view from its position on, until fn returns true or an error, or the
// view ends.
//
// Each pread goes to a new buffer that is never reused, so fn may keep slices
// of b: Read's records alias it instead of copying. The hint keeps what such
// records pin close to what they hold.
func (v segmentView) eachBatch(fn func(b []byte) (bool, error)) error {
	at := int64(v.pos)
	want := min(max(v.hint, lengthFieldEnd), maxReadChunk)
	for at < v.size {
		if v.size-at < lengthFieldEnd {
			return corruptf("segment %d: %d stray bytes at %d", v.base, v.size-at, at)
		}
		buf := make([]byte, min(v.size-at, int64(want)))
		if _, err := v.f.ReadAt(buf, at); err != nil {
			return err
		}
		for p := buf; len(p) >= lengthFieldEnd; {
			n, ok := batchLen(p)
			if !ok || at+int64(n) > v.size {
				return corruptf("segment %d: bad batch length at %d", v.base, at)
			}
			if n > len(p) {
				want = max(want, n)
				break
			}
			if err := checkFrame(p[:n]); err != nil {
				return fmt.Errorf("segment %d position %d: %w", v.base, at, err)
			}
			stop, err := fn(p[:n])
			if stop || err != nil {
				return err
			}
			at += int64(n)
			p = p[n:]
		}
	}
	return nil
}
