package commitlog

import (
	"errors"
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// TestTruncateModel appends batches, truncates to random batch boundaries
// (also inside sealed segments, and to the earliest offset), starts the log
// over at or past its end (StartAt), reopens now and then, and checks the
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
			switch rapid.IntRange(0, 6).Draw(rt, "op") {
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
				start = int64(len(want) + rapid.IntRange(0, 5).Draw(rt, "skip"))
				if err := l.StartAt(start); err != nil {
					rt.Fatalf("start at %d: %v", start, err)
				}
				want = append(want, make([]string, start-int64(len(want)))...)
				bounds = []int64{start}
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
