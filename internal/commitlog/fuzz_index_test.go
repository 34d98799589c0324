package commitlog

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// indexFixture is a closed log of two segments whose first (sealed) segment
// has a dense index, and every record it holds, in offset order.
type indexFixture struct {
	dir  string
	recs []Record
}

// newIndexFixture writes batches of one to three records with timestamps
// that mostly rise but sometimes fall back, so that the time index's
// tsBefore and the "first record at or after" answers are not trivial.
func newIndexFixture(tb testing.TB) indexFixture {
	tb.Helper()
	dir := tb.TempDir()
	l, err := Open(dir, Options{Fsync: FsyncNever, SegmentBytes: 1200, IndexIntervalBytes: 64})
	if err != nil {
		tb.Fatal(err)
	}
	var fx indexFixture
	fx.dir = dir
	ts := int64(1000)
	for i := range 40 {
		n := 1 + i%3
		batch := make([]Record, n)
		for j := range batch {
			ts += int64(5 - (i*7+j)%9) // steps of -3..+5
			batch[j] = Record{Key: []byte{byte(i)}, Value: []byte("value-" + string(rune('a'+i%26))), Timestamp: ts}
		}
		base, err := l.Append(batch)
		if err != nil {
			tb.Fatal(err)
		}
		for j := range batch {
			batch[j].Offset = base + int64(j)
		}
		fx.recs = append(fx.recs, batch...)
	}
	if st := l.Stats(); st.Segments < 2 {
		tb.Fatalf("fixture has %d segments, want at least 2", st.Segments)
	}
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	return fx
}

// FuzzIndex writes arbitrary bytes as the .index and .timeindex files of a
// sealed segment next to its valid .log file. Open must succeed (a bad index
// is rebuilt, never trusted), and every read must return exactly what was
// written: each offset on its own, the whole log in one read, and the first
// offset at or after each timestamp.
func FuzzIndex(f *testing.F) {
	fx := newIndexFixture(f)
	sealed := segmentPath(fx.dir, 0, "")
	offsets, err1 := os.ReadFile(sealed + indexSuffix)
	times, err2 := os.ReadFile(sealed + timeIndexSuffix)
	if err1 != nil || err2 != nil || len(offsets) < 2*offsetEntryLen {
		f.Fatalf("fixture index: %d bytes, %v, %v", len(offsets), err1, err2)
	}
	f.Add(offsets, times)
	f.Add([]byte{}, []byte{})
	f.Add(offsets[:len(offsets)-1], times)
	f.Add(offsets[:offsetEntryLen], times[:timeEntryLen])
	f.Fuzz(func(t *testing.T, offsets, times []byte) {
		dir := t.TempDir()
		entries, err := os.ReadDir(fx.dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(fx.dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		base := segmentPath(dir, 0, "")
		if err := os.WriteFile(base+indexSuffix, offsets, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(base+timeIndexSuffix, times, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, Options{Fsync: FsyncNever, SegmentBytes: 1200, IndexIntervalBytes: 64})
		if err != nil {
			t.Fatalf("Open with a damaged index: %v", err)
		}
		defer l.Close()
		checkIndexedReads(t, l, fx.recs)
	})
}

// checkIndexedReads proves that l holds exactly recs, through every path
// that consults the index.
func checkIndexedReads(t *testing.T, l *Log, recs []Record) {
	t.Helper()
	if st := l.Stats(); st.EarliestOffset != 0 || st.HighWatermark != int64(len(recs)) {
		t.Fatalf("stats %+v, want offsets [0, %d)", st, len(recs))
	}
	all, err := l.Read(0, len(recs)+1, 1<<30)
	if err != nil || !recordsEqual(all, recs) {
		t.Fatalf("read of the whole log: %d records, %v", len(all), err)
	}
	for _, want := range recs {
		got, err := l.Read(want.Offset, 1, 1)
		if err != nil || len(got) != 1 || !recordsEqual(got, []Record{want}) {
			t.Fatalf("read at %d = %v, %v; want %v", want.Offset, got, err, want)
		}
	}
	stamps := make([]int64, 0, len(recs)+2)
	for _, r := range recs {
		stamps = append(stamps, r.Timestamp, r.Timestamp+1)
	}
	stamps = append(stamps, -1, 1<<62)
	slices.Sort(stamps)
	for _, ts := range slices.Compact(stamps) {
		want := int64(len(recs))
		for _, r := range recs {
			if r.Timestamp >= ts {
				want = r.Offset
				break
			}
		}
		if got, err := l.OffsetForTimestamp(ts); err != nil || got != want {
			t.Fatalf("offset for timestamp %d = %d, %v; want %d", ts, got, err, want)
		}
	}
}
