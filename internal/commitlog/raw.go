package commitlog

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// ReadBatches returns stored batches, whole and as they are on disk
// (compressed ones included), from the batch holding offset on: at most
// maxBytes of them, but always the first one if any exists, and nothing at
// or past the high watermark. It is what a Kafka fetch serves: the consumer
// skips the records before offset itself. offset == HighWatermark returns
// nothing and no error; outside [Earliest, HWM] is a *RangeError. Damaged
// data is stepped over as Read steps over it.
//
// The batches are appended to dst, which is returned grown by them (dst
// itself when nothing is read): a caller serving many reads reuses one
// buffer instead of allocating and zeroing a new one for each.
func (l *Log) ReadBatches(offset int64, maxBytes int, dst []byte) ([]byte, error) {
	b, _, err := l.readBatches(offset, maxBytes, dst, false)
	return b, err
}

// ReadBatchesVoided is ReadBatches serving voided batches too (see Void),
// and returns their base offsets: a replica copying this log must give
// every batch the offsets it has here, and void the same ones.
func (l *Log) ReadBatchesVoided(offset int64, maxBytes int, dst []byte) (b []byte, voided []int64, err error) {
	return l.readBatches(offset, maxBytes, dst, true)
}

// readBatches is ReadBatches, serving voided batches (and naming them) if
// withVoids.
func (l *Log) readBatches(offset int64, maxBytes int, dst []byte, withVoids bool) ([]byte, []int64, error) {
	l.filesMu.RLock()
	defer l.filesMu.RUnlock()
	hwm, segs, err := l.readStart(offset)
	if err != nil {
		return dst, nil, err
	}
	out := rawOut{buf: dst, start: len(dst), room: maxBytes + l.opts.IndexIntervalBytes, max: maxBytes, withVoids: withVoids}
	from := offset
	for _, s := range segs {
		full, err := l.rawSegment(s, &from, hwm, maxBytes, &out)
		if err != nil {
			return dst, nil, fmt.Errorf("commitlog: read batches at %d: %w", offset, err)
		}
		if full {
			break
		}
	}
	return out.buf, out.voided, nil
}

// ReadSize is the room past dst's end that ReadBatches(offset, maxBytes,
// dst) reads into: the stored bytes from the index entry before offset to
// the end of the log, at most maxBytes and the index interval a read may
// start early, but at least up to the next index entry, which holds the
// first batch whole however large it is; 0 when offset is out of range.
// Nothing past the high watermark counts: while the log is held (see
// HoldWatermark) the bytes above it are no reader's.
// A reader of many partitions sizes its buffer with it once instead of
// growing it partition by partition, which copies what it read so far at
// each step (a 6 MiB fetch grew through five buffers). A poll's read of
// one 1 MiB batch with a maxBytes of 256 KiB once allocated (and zeroed)
// both sizes, the first for nothing: a fifth of the broker's CPU in a
// group consume.
func (l *Log) ReadSize(offset int64, maxBytes int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.checkRangeLocked(offset) != nil {
		return 0
	}
	limit := int64(maxBytes) + int64(l.opts.IndexIntervalBytes)
	var n, first int64
	for i, s := range l.segs[l.segmentForLocked(offset):] {
		end := l.visibleEndLocked(s)
		n += end
		if i == 0 {
			first = firstSpan(s, offset)
			if offset > s.base {
				start := int64(lookupOffset(s.index, uint32(offset-s.base)).pos)
				n -= start
				first = min(first, end-start)
			}
			first = min(first, end)
		}
		if n >= limit {
			return int(max(limit, first))
		}
		if end < s.size {
			break // the rest is above the high watermark
		}
	}
	return int(max(n, 0))
}

// firstSpan is the stored bytes of s from the index entry a read of offset
// starts at to the next entry (or the segment's end): the batch holding
// offset ends within them, since an entry names a batch's start and the
// next entry's batch starts past offset.
func firstSpan(s *segment, offset int64) int64 {
	rel := uint32(max(offset-s.base, 0))
	i := sort.Search(len(s.index), func(i int) bool { return s.index[i].rel > rel })
	start, end := int64(0), s.size
	if i > 0 {
		start = int64(s.index[i-1].pos)
	}
	if i < len(s.index) {
		end = int64(s.index[i].pos)
	}
	return end - start
}

// rawOut is what ReadBatches has appended so far: buf[start:]. room is
// what ReadSize promised a reader: maxBytes and an index interval to start
// early; max is maxBytes.
type rawOut struct {
	buf              []byte
	start, room, max int
	// withVoids: voided batches are kept too, and their bases listed in
	// voided (ReadBatchesVoided).
	withVoids bool
	voided    []int64
}

func (o *rawOut) len() int { return len(o.buf) - o.start }

// space is where the next pread goes: the bytes after buf's end, so that a
// batch read there is kept without a copy. It is n bytes, or fewer when
// the read is near its room, but at least need. It is nil, ending the
// read, when what is kept already leaves no room for need bytes (need is
// a length field, or a whole batch once its length is known): a read that
// holds a batch does not read one that cannot fit, only to leave it out.
// It once did, growing its buffer for it: each read of one 1 MiB batch
// read the next one too and allocated twice what it kept.
func (o *rawOut) space(n, need int) []byte {
	if o.len() > 0 && o.len()+need > o.max {
		return nil
	}
	n = max(min(n, o.room-o.len()), need)
	o.buf = slices.Grow(o.buf, n)
	return o.buf[len(o.buf) : len(o.buf)+n]
}

// keep appends b, a batch read into buf's spare capacity: in place when it
// starts at buf's end, else moved down over the batches skipped before it.
func (o *rawOut) keep(b []byte) {
	n := len(o.buf)
	o.buf = o.buf[:n+len(b)]
	if &o.buf[n] != &b[0] {
		copy(o.buf[n:], b)
	}
}

// rawSegment appends to out the stored batches of s that hold offsets at or
// after *from and below hwm, advancing *from past each, and reports whether
// the read is complete. Damage it meets is recorded and the segment read
// again past it, as readSegment does.
func (l *Log) rawSegment(s *segment, from *int64, hwm int64, maxBytes int, out *rawOut) (bool, error) {
	for {
		start := max(*from, s.base)
		if start >= hwm {
			return true, nil
		}
		l.mu.Lock()
		hint := min(max(maxBytes-out.len(), recordbatch.HeaderLen), maxReadChunk) + l.opts.IndexIntervalBytes
		skips := s.gaps()
		if out.withVoids {
			skips = s.skips
		}
		v, err := l.viewOfLocked(s, lookupOffset(s.index, uint32(start-s.base)), hint, skips)
		voids := s.voids // replaced, never modified in place
		l.mu.Unlock()
		if err != nil {
			return false, err
		}
		full := false
		space := func(n, need int) []byte {
			b := out.space(n, need)
			full = full || b == nil
			return b
		}
		err = v.eachBatchIn(space, func(b []byte) (bool, error) {
			base := recordbatch.BaseOffset(b)
			count := int64(recordbatch.NumRecords(b))
			switch {
			case base >= hwm:
				full = true // batches end at the high watermark: the rest is not yet readable
				return true, nil
			case base+count <= start:
				return false, nil
			case out.len() > 0 && out.len()+len(b) > maxBytes:
				full = true
				return true, nil
			}
			out.keep(b)
			if out.withVoids && isVoid(voids, base) {
				out.voided = append(out.voided, base)
			}
			*from = base + count
			return false, nil
		})
		var ce *corruptAtError
		if errors.As(err, &ce) {
			err = l.recordCorrupt(s, v, ce)
		}
		v.release()
		if ce == nil || err != nil {
			return full, err
		}
	}
}

// isVoid reports whether the batch at base is one of voids.
func isVoid(voids []CorruptRange, base int64) bool {
	for _, r := range voids {
		if r.From == base {
			return true
		}
	}
	return false
}
