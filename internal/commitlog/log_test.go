package commitlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is an injected Options.Now; safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openT(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func rec(v string) Record { return Record{Key: []byte("k-" + v), Value: []byte(v)} }

func mustAppend(t testing.TB, l *Log, recs ...Record) int64 {
	t.Helper()
	base, err := l.Append(recs)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return base
}

// recordOpts compares records treating nil and empty slices alike only where
// the test says so; by default nil and empty must round-trip exactly.
var recordOpts = cmp.Options{cmpopts.EquateEmpty()}

func TestAppendReadRoundTrip(t *testing.T) {
	l := openT(t, t.TempDir(), Options{Now: newClock().Now})
	in := []Record{
		{Key: nil, Value: []byte("no key")},
		{Key: []byte{}, Value: []byte{}, Attributes: 1},
		{Key: []byte("k"), Value: nil, Headers: []Header{{Key: "h", Value: []byte("v")}, {Key: "", Value: nil}}},
		{Key: []byte("ts"), Value: []byte("explicit"), Timestamp: 42, Attributes: -128},
	}
	if base := mustAppend(t, l, in...); base != 0 {
		t.Fatalf("base = %d, want 0", base)
	}
	for i, r := range in {
		if r.Offset != int64(i) {
			t.Errorf("in[%d].Offset = %d", i, r.Offset)
		}
	}
	if in[0].Timestamp != newClock().Now().UnixMilli() {
		t.Errorf("zero timestamp not set to now: %d", in[0].Timestamp)
	}
	got, err := l.Read(0, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Fatalf("Read mismatch (-want +got):\n%s", diff)
	}
	if got[0].Key != nil || got[1].Key == nil || got[2].Value != nil {
		t.Errorf("nil and empty slices not kept apart: %q %q %q", got[0].Key, got[1].Key, got[2].Value)
	}
}

func TestReadBounds(t *testing.T) {
	l := openT(t, t.TempDir(), Options{Now: newClock().Now})
	for i := range 10 {
		mustAppend(t, l, rec(fmt.Sprint(i)))
	}
	tests := []struct {
		name           string
		offset         int64
		max, maxBytes  int
		wantFirst, n   int
		wantRangeError bool
	}{
		{"all", 0, 100, 1 << 20, 0, 10, false},
		{"middle", 4, 3, 1 << 20, 4, 3, false},
		{"at hwm", 10, 10, 1 << 20, 0, 0, false},
		{"past hwm", 11, 10, 1 << 20, 0, 0, true},
		{"negative", -1, 10, 1 << 20, 0, 0, true},
		{"zero bytes still one", 2, 10, 0, 2, 1, false},
		{"bytes limit", 0, 10, 8, 0, 2, false}, // each record holds 3+1 bytes
		{"bytes limit under two", 0, 10, 7, 0, 1, false},
		{"zero max", 0, 0, 100, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Read(tt.offset, tt.max, tt.maxBytes)
			var re *RangeError
			if tt.wantRangeError {
				if !errors.As(err, &re) || !errors.Is(err, ErrOffsetOutOfRange) || re.HighWatermark != 10 || re.Earliest != 0 {
					t.Fatalf("err = %v, want RangeError [0,10]", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.n {
				t.Fatalf("got %d records, want %d", len(got), tt.n)
			}
			for i, r := range got {
				if want := fmt.Sprint(tt.wantFirst + i); string(r.Value) != want || r.Offset != int64(tt.wantFirst+i) {
					t.Errorf("record %d = %d:%q, want %s", i, r.Offset, r.Value, want)
				}
			}
		})
	}
}

func TestRollAndReadAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 300, IndexIntervalBytes: 100, Now: newClock().Now})
	for i := range 50 {
		mustAppend(t, l, rec(fmt.Sprintf("%03d", i)))
	}
	st := l.Stats()
	if st.Segments < 5 || st.HighWatermark != 50 || st.EarliestOffset != 0 {
		t.Fatalf("stats = %+v", st)
	}
	for start := int64(0); start < 50; start += 7 {
		got, err := l.Read(start, 100, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != int(50-start) || got[0].Offset != start {
			t.Fatalf("Read(%d) returned %d records from %d", start, len(got), got[0].Offset)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(files) != st.Segments {
		t.Fatalf("%d .log files for %d segments", len(files), st.Segments)
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000000.log")); err != nil {
		t.Fatal(err)
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentBytes: 400, IndexIntervalBytes: 80, Now: newClock().Now})
	// Timestamps not monotonic: 10, 30, 20, 40, 40, 50 ... and a batch of several.
	ts := []int64{10, 30, 20, 40, 40, 50, 45, 60}
	for _, x := range ts {
		mustAppend(t, l, Record{Value: []byte("v"), Timestamp: x})
	}
	mustAppend(t, l, Record{Timestamp: 70}, Record{Timestamp: 65}, Record{Timestamp: 80})
	tests := []struct{ ts, want int64 }{
		{0, 0}, {10, 0}, {11, 1}, {25, 1}, {30, 1}, {31, 3}, {46, 5}, {50, 5}, {55, 7}, {61, 8}, {66, 8}, {71, 10}, {80, 10}, {81, 11},
	}
	for _, tt := range tests {
		got, err := l.OffsetForTimestamp(tt.ts)
		if err != nil || got != tt.want {
			t.Errorf("OffsetForTimestamp(%d) = %d, %v; want %d", tt.ts, got, err, tt.want)
		}
	}
}

func TestRetention(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 200, RetentionAge: time.Hour, SegmentAge: time.Minute, Now: clock.Now})
	for i := range 20 {
		mustAppend(t, l, rec(fmt.Sprintf("%03d", i)))
	}
	before := l.Stats()
	clock.Advance(30 * time.Minute)
	if n, err := l.EnforceRetention(); err != nil || n != 0 {
		t.Fatalf("EnforceRetention = %d, %v before expiry", n, err)
	}
	clock.Advance(31 * time.Minute)
	n, err := l.EnforceRetention()
	if err != nil || n != before.Segments {
		t.Fatalf("EnforceRetention = %d, %v; want all %d segments gone", n, err, before.Segments)
	}
	st := l.Stats()
	if st.EarliestOffset != 20 || st.HighWatermark != 20 || st.Segments != 1 || st.Bytes != 0 {
		t.Fatalf("emptied log stats = %+v", st)
	}
	if _, err := l.Read(5, 1, 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below earliest: %v", err)
	}
	l.Close()
	l = openT(t, dir, Options{Now: clock.Now})
	if got := mustAppend(t, l, rec("x")); got != 20 {
		t.Fatalf("after reopen of an emptied log, append got offset %d, want 20", got)
	}
}

func TestRetentionBytes(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentBytes: 1000, RetentionBytes: 2500, Now: newClock().Now})
	for i := range 100 {
		mustAppend(t, l, rec(fmt.Sprintf("%03d", i)))
	}
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.Bytes < 2500 || st.Bytes > 2500+1000 {
		t.Fatalf("bytes after retention = %d, want in [2500, 3500]", st.Bytes)
	}
	got, err := l.Read(st.EarliestOffset, 1000, 1<<20)
	if err != nil || int64(len(got)) != 100-st.EarliestOffset {
		t.Fatalf("read remaining: %d records, %v", len(got), err)
	}
}

func TestAppendBatch(t *testing.T) {
	l := openT(t, t.TempDir(), Options{Now: newClock().Now})
	mustAppend(t, l, rec("first"))
	var e encoder
	want := []Record{{Key: []byte("a"), Value: []byte("1"), Timestamp: 5}, {Value: []byte("2"), Timestamp: 6, Attributes: 1}}
	b, _ := e.encode(999, want) // a producer's base offset is ignored
	buf := append([]byte(nil), b...)
	base, err := l.AppendBatch(buf)
	if err != nil || base != 1 {
		t.Fatalf("AppendBatch = %d, %v", base, err)
	}
	clear(buf) // the log must have copied it
	got, err := l.Read(1, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want[0].Offset, want[1].Offset = 1, 2
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if _, err := l.AppendBatch(buf); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("zeroed batch: %v, want ErrCorrupt", err)
	}
}

func TestMaxBatchBytes(t *testing.T) {
	l := openT(t, t.TempDir(), Options{MaxBatchBytes: 200, Now: newClock().Now})
	recs := []Record{{Value: make([]byte, 300)}}
	if _, err := l.Append(recs); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("Append: %v", err)
	}
	if recs[0].Offset != 0 || l.HighWatermark() != 0 {
		t.Fatal("refused append changed state")
	}
	if _, err := l.Append(nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty append: %v", err)
	}
}

func TestClosed(t *testing.T) {
	l, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ch := l.Changed()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("Close did not close the Changed channel")
	}
	checks := map[string]error{"Close": l.Close(), "Sync": l.Sync(), "Wait": l.Wait(context.Background(), 0)}
	_, checks["Append"] = l.Append([]Record{rec("x")})
	_, checks["AppendBatch"] = l.AppendBatch(nil)
	_, checks["Read"] = l.Read(0, 1, 1)
	_, checks["OffsetForTimestamp"] = l.OffsetForTimestamp(0)
	_, checks["EnforceRetention"] = l.EnforceRetention()
	for name, err := range checks {
		if name != "AppendBatch" && !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
}

func TestWaitAndChanged(t *testing.T) {
	l := openT(t, t.TempDir(), Options{Now: newClock().Now})
	ch := l.Changed()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a cancelled ctx: %v", err)
	}
	done := make(chan error)
	go func() { done <- l.Wait(context.Background(), 1) }()
	mustAppend(t, l, rec("0"))
	select {
	case <-ch:
	default:
		t.Fatal("Changed channel not closed by an append")
	}
	mustAppend(t, l, rec("1"))
	if err := <-done; err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

func TestFsyncPolicies(t *testing.T) {
	for _, p := range []FsyncPolicy{FsyncAlways, FsyncInterval, FsyncNever} {
		t.Run(fmt.Sprint(p), func(t *testing.T) {
			dir := t.TempDir()
			l := openT(t, dir, Options{Fsync: p, FsyncBytes: 100, SegmentBytes: 500, Now: newClock().Now})
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					for i := range 25 {
						if _, err := l.Append([]Record{rec(fmt.Sprint(g, i))}); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			if p == FsyncAlways {
				l.mu.Lock()
				synced, written := l.synced, l.written
				l.mu.Unlock()
				if synced != written {
					t.Fatalf("FsyncAlways: synced %d of %d bytes after every Append returned", synced, written)
				}
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			if hwm := l.HighWatermark(); hwm != 100 {
				t.Fatalf("hwm = %d", hwm)
			}
			l.Close()
			l2 := openT(t, dir, Options{})
			got, err := l2.Read(0, 1000, 1<<30)
			if err != nil || len(got) != 100 {
				t.Fatalf("after reopen: %d records, %v", len(got), err)
			}
		})
	}
}

func TestRetentionBytesBoundary(t *testing.T) {
	var e encoder
	b, _ := e.encode(0, []Record{rec("x")})
	batch := int64(len(b)) // every batch below has this size
	tests := []struct {
		retention   int64
		wantDeleted int
	}{
		{6 * batch, 1},   // dropping the oldest leaves exactly RetentionBytes
		{6*batch + 1, 0}, // it would leave less
		{3 * batch, 2},   // only the active segment stays
		{1, 2},           // never the active one
		{9 * batch, 0},   // the whole log is within bounds
		{6*batch - 1, 1}, // a second deletion would leave 3 batches < retention
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.retention), func(t *testing.T) {
			clock := newClock()
			l := openT(t, t.TempDir(), Options{SegmentBytes: 3 * batch, RetentionBytes: tt.retention, Now: clock.Now})
			for range 9 {
				mustAppend(t, l, Record{Key: []byte("k-x"), Value: []byte("x"), Timestamp: 1})
			}
			if st := l.Stats(); st.Segments != 3 || st.Bytes != 9*batch {
				t.Fatalf("setup: %+v", st)
			}
			n, err := l.EnforceRetention()
			if err != nil || n != tt.wantDeleted {
				t.Fatalf("EnforceRetention = %d, %v; want %d", n, err, tt.wantDeleted)
			}
			if st := l.Stats(); st.EarliestOffset != int64(3*n) || st.Bytes != int64(9-3*n)*batch {
				t.Fatalf("after retention: %+v", st)
			}
		})
	}
}

// Segments age by the log's clock, not by producers' timestamps: a day-old
// timestamp on every append rolled a new segment (and a new open file) per
// append under a one-hour SegmentAge. It still rolls once the clock says so.
func TestSegmentAgesByClockNotTimestamps(t *testing.T) {
	clock := newClock()
	l := openT(t, t.TempDir(), Options{SegmentAge: time.Hour, Now: clock.Now})
	old := clock.Now().Add(-25 * time.Hour).UnixMilli()
	for i := range 50 {
		r := rec(fmt.Sprint(i))
		r.Timestamp = old
		mustAppend(t, l, r)
	}
	if n := l.Stats().Segments; n != 1 {
		t.Fatalf("50 appends with day-old timestamps made %d segments, want 1", n)
	}
	clock.Advance(time.Hour)
	mustAppend(t, l, rec("late"))
	if n := l.Stats().Segments; n != 2 {
		t.Fatalf("after an hour by the clock: %d segments, want 2", n)
	}
}

// CheckFiles notices that the log's directory was removed under it: the
// open file still takes writes, on an inode nothing will read again.
func TestCheckFilesNoticesARemovedDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l := openT(t, dir, Options{})
	mustAppend(t, l, rec("a"))
	if err := l.CheckFiles(); err != nil {
		t.Fatalf("CheckFiles of a sound log: %v", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, rec("b")) // succeeds: that is the danger
	if err := l.CheckFiles(); err == nil {
		t.Fatal("CheckFiles after the directory was removed: nil")
	}
}
