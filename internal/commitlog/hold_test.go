package commitlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// heldLog opens a held log (by Options.Held, or by HoldWatermark after
// Open) of small segments, appends ten 2-record batches (offset i holds
// "v<i>" stamped 1000+i) and releases the first five; the other five are
// the unreleased tail. It returns the log and the bytes released.
func heldLog(t *testing.T, dir string, opts Options, byOption bool) (*Log, int64) {
	t.Helper()
	opts.Held = byOption
	opts.SegmentBytes, opts.IndexIntervalBytes = 250, 64
	l := openT(t, dir, opts)
	if !byOption {
		l.HoldWatermark()
	}
	var released int64
	for i := range 10 {
		mustAppend(t, l, Record{Timestamp: int64(1000 + 2*i), Value: fmt.Append(nil, "v", 2*i)},
			Record{Timestamp: int64(1001 + 2*i), Value: fmt.Append(nil, "v", 2*i+1)})
		if i == 4 {
			released = l.Stats().Bytes
		}
		if got := l.HighWatermark(); got != 0 {
			t.Fatalf("a held log's high watermark rose to %d on a write", got)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(10); err != nil {
		t.Fatal(err)
	}
	if len(l.segs) < 4 {
		t.Fatalf("setup: %d segments", len(l.segs))
	}
	return l, released
}

// rawOffsets returns the offsets of the batches ReadBatches returned.
func rawOffsets(t *testing.T, raw []byte) []int64 {
	t.Helper()
	var got []int64
	for len(raw) > 0 {
		n, ok := recordbatch.Len(raw)
		if !ok || n > len(raw) {
			t.Fatalf("raw read: truncated batch after offsets %v", got)
		}
		for o := range int64(recordbatch.NumRecords(raw)) {
			got = append(got, recordbatch.BaseOffset(raw)+o)
		}
		raw = raw[n:]
	}
	return got
}

func offsetsOf(recs []Record) []int64 {
	var out []int64
	for _, r := range recs {
		out = append(out, r.Offset)
	}
	return out
}

// Every reader stops at a held high watermark: the batches written above
// it, which a new Raft leader may yet cut, are seen by none, whatever the
// fsync policy.
func TestHeldTailIsInvisible(t *testing.T) {
	released := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	checks := []struct {
		name  string
		check func(t *testing.T, l *Log, releasedBytes int64)
	}{
		{"Read", func(t *testing.T, l *Log, _ int64) {
			got, err := l.Read(0, 1000, 1<<20)
			if err != nil || !slices.Equal(offsetsOf(got), released) {
				t.Fatalf("Read(0) = %v, %v; want offsets %v", offsetsOf(got), err, released)
			}
			if got, err := l.Read(10, 1000, 1<<20); err != nil || len(got) != 0 {
				t.Fatalf("Read(hwm) = %v, %v; want nothing", offsetsOf(got), err)
			}
			var re *RangeError
			if _, err := l.Read(11, 1, 1<<20); !errors.As(err, &re) || re.HighWatermark != 10 {
				t.Fatalf("Read(11) = %v, want a range error up to 10", err)
			}
		}},
		{"ReadBatches", func(t *testing.T, l *Log, _ int64) {
			raw, err := l.ReadBatches(0, 1<<20, nil)
			if got := rawOffsets(t, raw); err != nil || !slices.Equal(got, released) {
				t.Fatalf("ReadBatches(0) = %v, %v; want offsets %v", got, err, released)
			}
			if raw, err := l.ReadBatches(10, 1<<20, nil); err != nil || len(raw) != 0 {
				t.Fatalf("ReadBatches(hwm) = %d bytes, %v", len(raw), err)
			}
		}},
		{"ReadSize", func(t *testing.T, l *Log, releasedBytes int64) {
			if got := l.ReadSize(0, 1<<20); got > int(releasedBytes) {
				t.Fatalf("ReadSize(0) = %d, past the %d bytes released", got, releasedBytes)
			}
		}},
		{"OffsetForTimestamp", func(t *testing.T, l *Log, _ int64) {
			for ts, want := range map[int64]int64{1003: 3, 1015: 10, 1019: 10, 5000: 10} {
				if got, err := l.OffsetForTimestamp(ts); err != nil || got != want {
					t.Errorf("OffsetForTimestamp(%d) = %d, %v; want %d", ts, got, err, want)
				}
			}
		}},
		{"Wait", func(t *testing.T, l *Log, _ int64) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := l.Wait(ctx, 9); err != nil {
				t.Fatalf("Wait(9) = %v, want nil", err)
			}
			if err := l.Wait(ctx, 10); !errors.Is(err, context.Canceled) {
				t.Fatalf("Wait(10) = %v: the tail is not readable", err)
			}
		}},
		{"Stats", func(t *testing.T, l *Log, _ int64) {
			if st := l.Stats(); st.HighWatermark != 10 || st.EarliestOffset != 0 {
				t.Fatalf("stats %+v", st)
			}
		}},
		{"Skipped", func(t *testing.T, l *Log, _ int64) {
			if to, ok := l.Skipped(10); ok {
				t.Fatalf("Skipped(10) = %d", to)
			}
		}},
	}
	for _, fsync := range []FsyncPolicy{FsyncNever, FsyncInterval, FsyncAlways} {
		for _, byOption := range []bool{true, false} {
			for _, c := range checks {
				t.Run(fmt.Sprintf("%v/option=%v/%s", fsync, byOption, c.name), func(t *testing.T) {
					l, releasedBytes := heldLog(t, t.TempDir(), Options{Fsync: fsync}, byOption)
					c.check(t, l, releasedBytes)
				})
			}
		}
	}
}

// Release moves the high watermark up to a batch boundary within what was
// written, and nowhere else; it wakes the waiters.
func TestRelease(t *testing.T) {
	tests := []struct {
		name    string
		next    int64
		want    error // nil: the high watermark moves to next
		wantHWM int64
	}{
		{"to the next batch", 12, nil, 12},
		{"several batches", 16, nil, 16},
		{"to the end", 20, nil, 20},
		{"where it is", 10, nil, 10},
		{"inside a batch", 13, ErrNotBoundary, 10},
		{"below", 8, ErrOffsetOutOfRange, 10},
		{"past the end", 22, ErrOffsetOutOfRange, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := heldLog(t, t.TempDir(), Options{}, true)
			ch := l.Changed()
			err := l.Release(tt.next)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Release(%d) = %v, want %v", tt.next, err, tt.want)
			}
			if got := l.HighWatermark(); got != tt.wantHWM {
				t.Fatalf("high watermark %d, want %d", got, tt.wantHWM)
			}
			select {
			case <-ch:
				if tt.wantHWM == 10 {
					t.Fatal("Changed fired, nothing released")
				}
			default:
				if tt.wantHWM != 10 {
					t.Fatal("Changed did not fire on a release")
				}
			}
			if got, err := l.Read(0, 1000, 1<<20); err != nil || int64(len(got)) != tt.wantHWM {
				t.Fatalf("read %d records, %v; want %d", len(got), err, tt.wantHWM)
			}
		})
	}
	t.Run("not held", func(t *testing.T) {
		l := openT(t, t.TempDir(), Options{})
		mustAppend(t, l, rec("a"))
		if err := l.Release(1); !errors.Is(err, ErrNotHeld) {
			t.Fatalf("Release on a log not held = %v", err)
		}
	})
	t.Run("wakes a waiter", func(t *testing.T) {
		l, _ := heldLog(t, t.TempDir(), Options{}, false)
		done := make(chan error)
		go func() { done <- l.Wait(context.Background(), 15) }()
		if err := l.Release(16); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Wait = %v", err)
		}
	})
}

// Release finds a boundary written before the hold, or before Open, by
// reading the segment's headers, and one written since from memory; a
// reopened held log starts at its earliest offset.
func TestReleaseAfterReopen(t *testing.T) {
	dir := t.TempDir()
	l, _ := heldLog(t, dir, Options{}, true)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openT(t, dir, Options{Held: true, SegmentBytes: 250, IndexIntervalBytes: 64})
	if got := l.HighWatermark(); got != 0 {
		t.Fatalf("reopened held at %d, want the earliest offset 0", got)
	}
	for _, next := range []int64{2, 8, 14} {
		if err := l.Release(next); err != nil {
			t.Fatalf("Release(%d): %v", next, err)
		}
		if got, err := l.Read(0, 1000, 1<<20); err != nil || int64(len(got)) != next {
			t.Fatalf("read %d records, %v; want %d", len(got), err, next)
		}
		if got := l.ReadSize(next, 1<<20); got > int(l.Stats().Bytes) {
			t.Fatalf("ReadSize(%d) = %d", next, got)
		}
	}
	if err := l.Release(15); !errors.Is(err, ErrNotBoundary) {
		t.Fatalf("Release(15) = %v", err)
	}
}

// Retention never deletes what a held log has not released: a Raft leader
// still sends it to followers, or a new one cuts it.
func TestRetentionKeepsTheHeldTail(t *testing.T) {
	l, _ := heldLog(t, t.TempDir(), Options{}, true)
	l.SetRetention(1, 0)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if got := l.EarliestOffset(); got > 10 {
		t.Fatalf("retention deleted up to %d, past the high watermark 10", got)
	}
	for _, s := range l.segs[:len(l.segs)-1] {
		if s.next > 10 {
			break
		}
		t.Fatalf("retention kept segment [%d, %d), wholly released", s.base, s.next)
	}
	if got, err := l.Read(l.EarliestOffset(), 1000, 1<<20); err != nil || int64(len(got)) != 10-l.EarliestOffset() {
		t.Fatalf("read %d records from %d, %v", len(got), l.EarliestOffset(), err)
	}
	if err := l.Release(20); err != nil {
		t.Fatal(err)
	}
	if n, err := l.EnforceRetention(); err != nil || n == 0 || l.EarliestOffset() <= 10 {
		t.Fatalf("after the release retention deleted %d segments (%v), earliest %d", n, err, l.EarliestOffset())
	}
}

// TruncateTo and StartAt work on a held log: a cut below the high
// watermark lowers it to the cut, one above leaves it; the writes after
// stay held.
func TestTruncateHeld(t *testing.T) {
	tests := []struct {
		name    string
		cut     func(l *Log) error
		wantHWM int64
	}{
		{"truncate above", func(l *Log) error { return l.TruncateTo(14) }, 10},
		{"truncate at", func(l *Log) error { return l.TruncateTo(10) }, 10},
		{"truncate below", func(l *Log) error { return l.TruncateTo(4) }, 4},
		{"truncate to the start", func(l *Log) error { return l.TruncateTo(0) }, 0},
		{"start past the end", func(l *Log) error { return l.StartAt(25) }, 25},
		{"start at the beginning", func(l *Log) error { return l.StartAt(0) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l, _ := heldLog(t, dir, Options{}, true)
			if err := tt.cut(l); err != nil {
				t.Fatal(err)
			}
			if got := l.HighWatermark(); got != tt.wantHWM {
				t.Fatalf("high watermark %d, want %d", got, tt.wantHWM)
			}
			next := l.NextOffset()
			got, err := l.Read(l.EarliestOffset(), 1000, 1<<20)
			if err != nil || int64(len(got)) != tt.wantHWM-l.EarliestOffset() {
				t.Fatalf("read %d records, %v", len(got), err)
			}
			if raw, err := l.ReadBatches(l.EarliestOffset(), 1<<20, nil); err != nil || int64(len(rawOffsets(t, raw))) != tt.wantHWM-l.EarliestOffset() {
				t.Fatalf("raw read %v, %v", rawOffsets(t, raw), err)
			}
			base := mustAppend(t, l, rec("x"))
			if base != next || l.HighWatermark() != tt.wantHWM {
				t.Fatalf("append at %d (want %d) moved the high watermark to %d", base, next, l.HighWatermark())
			}
			if err := l.Release(next + 1); err != nil {
				t.Fatal(err)
			}
			if got, err := l.Read(next, 1, 1<<20); err != nil || len(got) != 1 || string(got[0].Value) != "x" {
				t.Fatalf("read the released append: %v, %v", got, err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			verifyLog(t, openT(t, dir, Options{Held: true, SegmentBytes: 250, IndexIntervalBytes: 64}))
		})
	}
}

// Verify checks no segment above a held high watermark: that data may be
// cut, and is no reader's yet. It checks it once released.
func TestVerifyWaitsForRelease(t *testing.T) {
	dir := t.TempDir()
	l, _ := heldLog(t, dir, Options{}, true)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files := segmentFiles(t, dir)
	last := files[len(files)-2] // the last sealed segment: all above 10
	base, _ := parseSegmentName(last[len(dir)+1:])
	if base <= 10 {
		t.Fatalf("setup: the last sealed segment starts at %d", base)
	}
	flip(t, last, 64) // 16 bytes of its first batch's records, before its last index entry
	l = openT(t, dir, Options{Held: true, SegmentBytes: 250, IndexIntervalBytes: 64})
	var reported []CorruptRange
	l.opts.OnCorrupt = func(r CorruptRange) { reported = append(reported, r) }
	if n := len(l.Corruption()); n != 0 {
		t.Fatalf("setup: Open found the damage (%d ranges), Verify has nothing to find", n)
	}
	if err := l.Release(10); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Verify(); err != nil || n != 0 || len(reported) != 0 {
		t.Fatalf("Verify above the high watermark found %d (%v), reported %v", n, err, reported)
	}
	if err := l.Release(20); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Verify(); err != nil || n != 1 {
		t.Fatalf("Verify once released found %d, %v; want 1", n, err)
	}
}

// No read looks at the bytes above a held high watermark: damage there
// (which a new leader's cut may yet remove) is neither reported nor
// recorded until a release makes it the readers' business.
func TestReadsStopAtTheHeldWatermark(t *testing.T) {
	reads := []struct {
		name string
		read func(l *Log) error
	}{
		{"Read", func(l *Log) error { _, err := l.Read(0, 1000, 1<<20); return err }},
		{"ReadBatches", func(l *Log) error { _, err := l.ReadBatches(0, 1<<20, nil); return err }},
		{"OffsetForTimestamp", func(l *Log) error { _, err := l.OffsetForTimestamp(1003); return err }},
	}
	for _, tt := range reads {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var reported []CorruptRange
			l := openT(t, dir, Options{Held: true, OnCorrupt: func(r CorruptRange) { reported = append(reported, r) }})
			for i := range 4 {
				mustAppend(t, l, Record{Timestamp: int64(1000 + i), Value: []byte("v")})
			}
			if err := l.Release(2); err != nil {
				t.Fatal(err)
			}
			l.mu.Lock()
			pos := l.hwmPos // the first unreleased batch, in the one segment
			l.mu.Unlock()
			flip(t, segmentPath(dir, 0, logSuffix), pos+recordbatch.HeaderLen)
			if err := tt.read(l); err != nil {
				t.Fatal(err)
			}
			if c := l.Corruption(); len(c) != 0 || len(reported) != 0 {
				t.Fatalf("damage above the high watermark recorded %v, reported %v", c, reported)
			}
		})
	}
}
