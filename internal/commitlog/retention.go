package commitlog

import (
	"fmt"
	"time"
)

// EnforceRetention deletes whole segments past RetentionAge/RetentionBytes
// (never the active one) and rolls the active segment if it is older than
// SegmentAge. It returns how many segments it deleted.
//
// Segments go oldest first: by age while the newest record of the oldest
// segment is older than RetentionAge, then by size while the log would still
// hold at least RetentionBytes without the oldest segment (as Kafka does).
// The active segment is rolled first, so an idle log can age out entirely;
// it then keeps its high watermark as the base of its empty active segment.
//
// A held log (see HoldWatermark) keeps every segment that holds data at or
// above its high watermark: that data is not committed yet, and its owner
// may still need it (a Raft leader sends it to followers) or cut it. And
// a log given RetainFrom keeps every segment holding data at or after it.
func (l *Log) EnforceRetention() (deleted int, err error) {
	defer l.lockAll()()
	if err := l.writableLocked(); err != nil {
		return 0, err
	}
	if l.agedLocked(l.active()) {
		if err := l.rollLocked(); err != nil {
			return 0, err
		}
	}
	now := l.opts.Now()
	waits := false
	defer func() { l.retentionWaits.Store(waits) }()
	for len(l.segs) > 1 {
		old := l.segs[0]
		expired := l.opts.RetentionAge > 0 && now.Sub(timeOf(old.maxTS)) > l.opts.RetentionAge
		oversize := l.opts.RetentionBytes > 0 && l.bytes-old.size >= l.opts.RetentionBytes
		if !expired && !oversize || l.held && old.next > l.hwm {
			break
		}
		if l.retaining && old.next > l.retainFrom {
			waits = true
			break
		}
		if err := old.remove(l.dir, l.files); err != nil {
			return deleted, err
		}
		l.segs = l.segs[1:]
		l.bytes -= old.size
		deleted++
	}
	if deleted > 0 && l.opts.Fsync != FsyncNever {
		if err := syncDir(l.dir); err != nil {
			return deleted, fmt.Errorf("commitlog: retention: %w", err)
		}
	}
	// After the segments: a crash between leaves records below the
	// earliest offset, which Open drops.
	earliest := l.segs[0].base
	if err := l.dropVoidsLocked(func(o int64) bool { return o < earliest }); err != nil {
		return deleted, err
	}
	return deleted, nil
}

// SetRetention changes RetentionBytes and RetentionAge of an open log
// (<=0: unbounded, forever); the next EnforceRetention applies them.
func (l *Log) SetRetention(bytes int64, age time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.opts.RetentionBytes, l.opts.RetentionAge = bytes, age
}
