package commitlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"

	"pgregory.net/rapid"
)

// TestTruncateModel appends batches, truncates to random batch boundaries
// (also inside sealed segments, and to the earliest offset), starts the log
// over at or past its end or at or before its start (StartAt), deletes
// sealed segments (retention), reopens now and then, and checks the
// log against the list of records it should hold: every record from its
// start and below the cut readable and unchanged, nothing at or past it,
// the next append at the cut, the same after a reopen.
func TestTruncateModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		opts := Options{SegmentBytes: int64(rapid.IntRange(200, 2000).Draw(rt, "segment_bytes")), IndexIntervalBytes: 64,
			Fsync: FsyncPolicy(rapid.IntRange(0, 2).Draw(rt, "fsync"))}
		l, err := Open(dir, opts)
		if err != nil {
			rt.Fatal(err)
		}
		defer func() { l.Close() }()
		var want []string    // want[i] is the value at offset i, from start on
		var start int64      // the log's first offset
		bounds := []int64{0} // batch boundaries from start, ascending
		for step := range rapid.IntRange(1, 40).Draw(rt, "steps") {
			switch rapid.IntRange(0, 7).Draw(rt, "op") {
			case 0, 1, 2:
				n := rapid.IntRange(1, 4).Draw(rt, "n")
				recs := make([]Record, n)
				for i := range recs {
					recs[i] = Record{Timestamp: 1, Value: fmt.Appendf(nil, "v%d-%d", step, i)}
				}
				base, err := l.Append(recs)
				if err != nil {
					rt.Fatal(err)
				}
				if base != int64(len(want)) {
					rt.Fatalf("appended at %d, want %d", base, len(want))
				}
				for _, r := range recs {
					want = append(want, string(r.Value))
				}
				bounds = append(bounds, int64(len(want)))
			case 3, 4:
				i := rapid.IntRange(0, len(bounds)-1).Draw(rt, "cut")
				if err := l.TruncateTo(bounds[i]); err != nil {
					rt.Fatalf("truncate to %d: %v", bounds[i], err)
				}
				want, bounds = want[:bounds[i]], bounds[:i+1]
			case 5:
				if err := l.Close(); err != nil {
					rt.Fatal(err)
				}
				if l, err = Open(dir, opts); err != nil {
					rt.Fatal(err)
				}
			case 6:
				if rapid.Bool().Draw(rt, "back") {
					// At or below the start: every record goes too.
					start = rapid.Int64Range(0, start).Draw(rt, "back_to")
					if err := l.StartAt(start); err != nil {
						rt.Fatalf("start at %d: %v", start, err)
					}
					want = want[:start]
				} else {
					start = int64(len(want) + rapid.IntRange(0, 5).Draw(rt, "skip"))
					if err := l.StartAt(start); err != nil {
						rt.Fatalf("start at %d: %v", start, err)
					}
					want = append(want, make([]string, start-int64(len(want)))...)
				}
				bounds = []int64{start}
			case 7:
				// Retention deletes every sealed segment.
				l.SetRetention(1, 0)
				if _, err := l.EnforceRetention(); err != nil {
					rt.Fatal(err)
				}
				start = l.EarliestOffset()
				bounds = bounds[slices.Index(bounds, start):]
			}
			if got := l.EarliestOffset(); got != start {
				rt.Fatalf("earliest offset %d, want %d", got, start)
			}
			checkRecords(rt, l, want, start)
		}
	})
}

// checkRecords checks that l holds want[start:] from start on.
func checkRecords(rt *rapid.T, l *Log, want []string, start int64) {
	if got := l.HighWatermark(); got != int64(len(want)) && l.opts.Fsync != FsyncAlways {
		rt.Fatalf("high watermark %d, want %d", got, len(want))
	}
	if err := l.Sync(); err != nil {
		rt.Fatal(err)
	}
	if got := l.HighWatermark(); got != int64(len(want)) {
		rt.Fatalf("high watermark after sync %d, want %d", got, len(want))
	}
	var got []string
	for off := start; off < int64(len(want)); {
		recs, err := l.Read(off, 1000, 1<<20)
		if err != nil {
			rt.Fatalf("read %d: %v", off, err)
		}
		for _, r := range recs {
			if r.Offset >= off {
				got = append(got, string(r.Value))
			}
		}
		off = recs[len(recs)-1].Offset + 1
	}
	if fmt.Sprint(got) != fmt.Sprint(want[start:]) {
		rt.Fatalf("log holds %v, want %v", got, want[start:])
	}
	if _, err := l.Read(int64(len(want))+1, 1, 1); !errors.Is(err, ErrOffsetOutOfRange) {
		rt.Fatalf("read past the end: %v", err)
	}
}

func TestTruncateRefusals(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	mustAppend(t, l, rec("a"), rec("b"))
	mustAppend(t, l, rec("c"))
	if err := l.TruncateTo(1); err == nil {
		t.Fatal("truncating inside a batch succeeded")
	}
	if err := l.TruncateTo(4); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("truncating past the end: %v", err)
	}
	if err := l.TruncateTo(3); err != nil {
		t.Fatalf("truncating at the end: %v", err)
	}
	if err := l.TruncateTo(2); err != nil {
		t.Fatal(err)
	}
	if got := mustAppend(t, l, rec("d")); got != 2 {
		t.Fatalf("append after truncate at %d, want 2", got)
	}
	if err := l.StartAt(2); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("starting before the end: %v", err)
	}
}

// retainedLog returns a log in dir of 2-record batches (offset i holds
// "v<i>") over several segments, whose first ones retention deleted.
func retainedLog(t *testing.T, dir string) *Log {
	t.Helper()
	l, err := Open(dir, Options{SegmentBytes: 300, IndexIntervalBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		mustAppend(t, l, rec(fmt.Sprint("v", 2*i)), rec(fmt.Sprint("v", 2*i+1)))
	}
	l.SetRetention(l.Stats().Bytes/2, 0)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if n := len(l.segs); l.EarliestOffset() == 0 || n < 3 {
		t.Fatalf("setup: the log starts at %d with %d segments", l.EarliestOffset(), n)
	}
	return l
}

// checkHeld checks that l holds "v<i>" at each offset i it holds, from
// its earliest offset to its next without a gap.
func checkHeld(t *testing.T, l *Log) {
	t.Helper()
	want := l.EarliestOffset()
	for want < l.NextOffset() {
		recs, err := l.Read(want, 1000, 1<<20)
		if err != nil {
			t.Fatalf("read %d: %v", want, err)
		}
		for _, r := range recs {
			if r.Offset < want {
				continue
			}
			if r.Offset != want || string(r.Value) != fmt.Sprint("v", want) {
				t.Fatalf("offset %d holds %q, want offset %d holding v%d", r.Offset, r.Value, want, want)
			}
			want++
		}
	}
}

// StartAt takes an offset at or below the earliest (the log then holds
// nothing below it) or at or past the next, and refuses one in between,
// which would lose the records below it; what it did survives a reopen.
func TestStartAtBounds(t *testing.T) {
	tests := []struct {
		name   string
		offset func(earliest, next int64) int64
		ok     bool
	}{
		{"zero", func(e, n int64) int64 { return 0 }, true},
		{"below the earliest", func(e, n int64) int64 { return e - 1 }, true},
		{"at the earliest", func(e, n int64) int64 { return e }, true},
		{"a batch after the earliest", func(e, n int64) int64 { return e + 2 }, false},
		{"inside a batch", func(e, n int64) int64 { return n - 1 }, false},
		{"at the next", func(e, n int64) int64 { return n }, true},
		{"past the next", func(e, n int64) int64 { return n + 3 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := retainedLog(t, dir)
			defer func() { l.Close() }()
			earliest, next := l.EarliestOffset(), l.NextOffset()
			off := tt.offset(earliest, next)
			err := l.StartAt(off)
			if !tt.ok {
				if !errors.Is(err, ErrOffsetOutOfRange) {
					t.Fatalf("start at %d in [%d, %d): %v, want ErrOffsetOutOfRange", off, earliest, next, err)
				}
				if l.EarliestOffset() != earliest || l.NextOffset() != next {
					t.Fatalf("a refused start changed the log to [%d, %d)", l.EarliestOffset(), l.NextOffset())
				}
				checkHeld(t, l)
				return
			}
			if err != nil {
				t.Fatalf("start at %d, log [%d, %d): %v", off, earliest, next, err)
			}
			for reopen := range 2 {
				if got := [3]int64{l.EarliestOffset(), l.NextOffset(), l.HighWatermark()}; got != [3]int64{off, off, off} {
					t.Fatalf("reopened %d times: earliest, next, high watermark %v, want all %d", reopen, got, off)
				}
				if recs, err := l.Read(off, 1, 1<<20); err != nil || len(recs) > 0 {
					t.Fatalf("read at the start of an empty log: %v %v", recs, err)
				}
				if _, err := l.Read(off-1, 1, 1<<20); off > 0 && !errors.Is(err, ErrOffsetOutOfRange) {
					t.Fatalf("read below the start: %v", err)
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				if l, err = Open(dir, Options{}); err != nil {
					t.Fatal(err)
				}
				if r := l.Recovery(); r != (Recovery{}) {
					t.Fatalf("reopen found %+v", r)
				}
			}
			if base := mustAppend(t, l, rec("w")); base != off {
				t.Fatalf("appended at %d, want %d", base, off)
			}
		})
	}
}

// A crash after any of StartAt's steps leaves a log Open reads without
// damage, holding only records at their offsets, from which StartAt
// finishes the job; starting at or below the earliest offset, one that
// still ends at or past the offset.
func TestStartAtCrash(t *testing.T) {
	tests := []struct {
		name   string
		offset func(earliest, next int64) int64
	}{
		{"below the earliest", func(e, n int64) int64 { return e - 3 }},
		{"at the earliest", func(e, n int64) int64 { return e }},
		{"at the next", func(e, n int64) int64 { return n }},
		{"past the next", func(e, n int64) int64 { return n + 3 }},
	}
	for _, tt := range tests {
		for done := range 5 {
			t.Run(fmt.Sprintf("%s/after %d steps", tt.name, done), func(t *testing.T) {
				dir := t.TempDir()
				old := retainedLog(t, dir)
				earliest := old.EarliestOffset()
				off := tt.offset(earliest, old.NextOffset())
				unlock := old.lockAll()
				steps := old.startSteps(off)
				if len(steps) != 4 {
					t.Fatalf("%d steps, the test knows 4", len(steps))
				}
				for _, step := range steps[:done] {
					if err := step(); err != nil {
						t.Fatal(err)
					}
				}
				unlock()
				// The crash: old is dropped as it is, never closed.
				l := openT(t, dir, Options{})
				if r := l.Recovery(); r != (Recovery{}) {
					t.Fatalf("Open found %+v", r)
				}
				checkHeld(t, l)
				if off <= earliest && l.NextOffset() < off {
					// A replica restoring a snapshot that ends at off
					// would fetch from the others what it had.
					t.Fatalf("the log ends at %d, below %d", l.NextOffset(), off)
				}
				if err := l.StartAt(off); err != nil {
					t.Fatalf("start at %d after the crash, log [%d, %d): %v", off, l.EarliestOffset(), l.NextOffset(), err)
				}
				if l.EarliestOffset() != off || l.NextOffset() != off {
					t.Fatalf("log [%d, %d), want empty at %d", l.EarliestOffset(), l.NextOffset(), off)
				}
			})
		}
	}
}

// StartAt closes the files of the segments it removes: it sealed every one
// of them as if it were the active segment (it shortened the list as it
// went), releasing a sealed file a second time, which left it referenced
// -1 times, listed idle twice and never closed — an open descriptor on a
// removed file, its disk space kept, for as long as the process ran.
func TestStartAtClosesTheOldFiles(t *testing.T) {
	for _, back := range []bool{true, false} {
		files := NewFileCache(64)
		l, err := Open(t.TempDir(), Options{SegmentBytes: 300, IndexIntervalBytes: 64, Files: files})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			mustAppend(t, l, rec(fmt.Sprint("v", 2*i)), rec(fmt.Sprint("v", 2*i+1)))
		}
		checkHeld(t, l) // every segment's file opened, the sealed ones left idle
		if n := len(l.segs); n < 3 || files.OpenFiles() != n {
			t.Fatalf("setup: %d segments, %d files open", n, files.OpenFiles())
		}
		off := l.NextOffset() + 5
		if back {
			off = 0
		}
		if err := l.StartAt(off); err != nil {
			t.Fatal(err)
		}
		if got := files.OpenFiles(); got != 1 {
			t.Errorf("start at %d: %d files open, want 1 (the new active segment's)", off, got)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if got := files.OpenFiles(); got != 0 {
			t.Errorf("start at %d, closed: %d files open, want 0", off, got)
		}
	}
}

// TruncateTo into the unsynced tail of a log under FsyncAlways makes what
// it keeps durable and readable, raising the high watermark: it did so
// without waking the long-polls waiting for it, which slept on until the
// next append.
func TestTruncateWakesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := openT(t, t.TempDir(), Options{Fsync: FsyncAlways})
		var enc encoder
		for i := range 2 {
			b, _ := enc.encode(0, []Record{rec(fmt.Sprint(i))})
			if _, _, err := l.WriteBatch(b); err != nil {
				t.Fatal(err)
			}
		}
		if hwm := l.HighWatermark(); hwm != 0 {
			t.Fatalf("setup: high watermark %d before a sync", hwm)
		}
		done := make(chan error, 1)
		go func() { done <- l.Wait(context.Background(), 0) }()
		synctest.Wait()
		if err := l.TruncateTo(1); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Wait = %v", err)
			}
		default:
			hwm := l.HighWatermark()
			l.Close() // lets the waiter go
			t.Fatalf("Wait still blocked after TruncateTo raised the high watermark to %d", hwm)
		}
	})
}
