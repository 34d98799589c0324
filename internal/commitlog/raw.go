package commitlog

import (
	"encoding/binary"
	"fmt"
)

// ReadBatches returns stored batches, whole and as they are on disk
// (compressed ones included), from the batch holding offset on: at most
// maxBytes of them, but always the first one if any exists, and nothing at
// or past the high watermark. It is what a Kafka fetch serves: the consumer
// skips the records before offset itself. offset == HighWatermark returns
// nothing and no error; outside [Earliest, HWM] is a *RangeError.
//
// The result is a fresh buffer the caller owns.
func (l *Log) ReadBatches(offset int64, maxBytes int) ([]byte, error) {
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
	segs := l.segs[l.segmentForLocked(offset):]
	views := make([]segmentView, 0, len(segs))
	for _, s := range segs {
		if s.base >= hwm {
			break
		}
		hint := min(max(maxBytes, batchHeaderLen), maxReadChunk) + l.opts.IndexIntervalBytes
		views = append(views, s.viewLocked(lookupOffset(s.index, uint32(max(offset, s.base)-s.base)).pos, hint))
	}
	l.mu.Unlock()
	var out []byte
	for _, v := range views {
		full := false
		err := v.eachBatch(func(b []byte) (bool, error) {
			base := int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
			count := int64(int32(binary.BigEndian.Uint32(b[offRecordCount:])))
			switch {
			case base >= hwm:
				full = true // batches end at the high watermark: the rest is not yet readable
				return true, nil
			case base+count <= offset:
				return false, nil
			case len(out) > 0 && len(out)+len(b) > maxBytes:
				full = true
				return true, nil
			}
			out = append(out, b...)
			return false, nil
		})
		if err != nil {
			return nil, fmt.Errorf("commitlog: read batches at %d: %w", offset, err)
		}
		if full {
			break
		}
	}
	return out, nil
}
