package commitlog

import (
	"errors"
	"fmt"

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
// The result is a fresh buffer the caller owns.
func (l *Log) ReadBatches(offset int64, maxBytes int) ([]byte, error) {
	l.filesMu.RLock()
	defer l.filesMu.RUnlock()
	hwm, segs, err := l.readStart(offset)
	if err != nil {
		return nil, err
	}
	var out []byte
	from := offset
	for _, s := range segs {
		full, err := l.rawSegment(s, &from, hwm, maxBytes, &out)
		if err != nil {
			return nil, fmt.Errorf("commitlog: read batches at %d: %w", offset, err)
		}
		if full {
			break
		}
	}
	return out, nil
}

// rawSegment appends to out the stored batches of s that hold offsets at or
// after *from and below hwm, advancing *from past each, and reports whether
// the read is complete. Damage it meets is recorded and the segment read
// again past it, as readSegment does.
func (l *Log) rawSegment(s *segment, from *int64, hwm int64, maxBytes int, out *[]byte) (bool, error) {
	for {
		start := max(*from, s.base)
		if start >= hwm {
			return true, nil
		}
		l.mu.Lock()
		hint := min(max(maxBytes-len(*out), recordbatch.HeaderLen), maxReadChunk) + l.opts.IndexIntervalBytes
		v, err := l.viewLocked(s, lookupOffset(s.index, uint32(start-s.base)), hint)
		l.mu.Unlock()
		if err != nil {
			return false, err
		}
		full := false
		err = v.eachBatch(func(b []byte) (bool, error) {
			base := recordbatch.BaseOffset(b)
			count := int64(recordbatch.NumRecords(b))
			switch {
			case base >= hwm:
				full = true // batches end at the high watermark: the rest is not yet readable
				return true, nil
			case base+count <= start:
				return false, nil
			case len(*out) > 0 && len(*out)+len(b) > maxBytes:
				full = true
				return true, nil
			}
			*out = append(*out, b...)
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
