package commitlog

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// ReadBatchesVoided serves the voided batches a Raft replica must copy and
// names them; ReadRange reads an entry back past the high watermark and
// whatever was voided, across segments, and refuses offsets inside a batch
// or outside the log.
func TestRaftLogReads(t *testing.T) {
	l := voidedLog(t, t.TempDir(), Options{})
	defer l.Close()
	raw, voided, err := l.ReadBatchesVoided(10, 1<<20, nil)
	if got := rawOffsets(t, raw); err != nil || !slices.Equal(got, []int64{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}) || !slices.Equal(voided, []int64{12, 16, 18}) {
		t.Fatalf("ReadBatchesVoided(10) = %v voided %v, %v", got, voided, err)
	}
	if raw, voided, err := l.ReadBatchesVoided(0, 1, nil); err != nil || len(voided) != 0 || !slices.Equal(rawOffsets(t, raw), []int64{0, 1}) {
		t.Fatalf("ReadBatchesVoided(0, 1 byte) = %v voided %v, %v", rawOffsets(t, raw), voided, err)
	}
	mustAppend(t, l, Record{Value: []byte("past the high watermark")})
	raw, err = l.ReadRange(4, 21)
	if got := rawOffsets(t, raw); err != nil || !slices.Equal(got, []int64{4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}) {
		t.Fatalf("ReadRange(4, 21) = %v, %v", got, err)
	}
	if raw, err := l.ReadRange(20, 20); err != nil || len(raw) != 0 {
		t.Fatalf("ReadRange(20, 20) = %d bytes, %v", len(raw), err)
	}
	for _, r := range [][2]int64{{3, 6}, {4, 7}, {0, 22}, {-1, 2}} {
		if _, err := l.ReadRange(r[0], r[1]); err == nil {
			t.Errorf("ReadRange(%d, %d) read", r[0], r[1])
		}
	}
}

// LowerWatermark shows readers less without cutting anything, only to a
// batch boundary within what they saw, and only on a held log; Release
// then shows it again.
func TestLowerWatermark(t *testing.T) {
	l, _ := heldLog(t, t.TempDir(), Options{}, true)
	defer l.Close()
	if err := l.LowerWatermark(4); err != nil || l.HighWatermark() != 4 || l.NextOffset() != 20 {
		t.Fatalf("LowerWatermark(4): %v, high watermark %d, next %d", err, l.HighWatermark(), l.NextOffset())
	}
	if got, err := l.Read(0, 100, 1<<20); err != nil || !slices.Equal(offsetsOf(got), []int64{0, 1, 2, 3}) {
		t.Fatalf("Read after lowering = %v, %v", offsetsOf(got), err)
	}
	for _, off := range []int64{5, 6, -1} {
		if err := l.LowerWatermark(off); err == nil {
			t.Errorf("LowerWatermark(%d) from 4 succeeded", off)
		}
	}
	if err := l.Release(20); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Read(0, 100, 1<<20); err != nil || len(got) != 20 {
		t.Fatalf("Read after releasing again = %v, %v", offsetsOf(got), err)
	}
	u := openT(t, t.TempDir(), Options{})
	defer u.Close()
	mustAppend(t, u, Record{Value: []byte("a")})
	if err := u.LowerWatermark(0); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("LowerWatermark of a log not held: %v", err)
	}
}

// Retention keeps every segment holding offsets at or past RetainFrom's,
// says it waited for it, and deletes them once RetainFrom moves on (all
// but the active one, as always).
func TestRetainFrom(t *testing.T) {
	now := time.Unix(1000, 0)
	l := openT(t, t.TempDir(), Options{SegmentBytes: 100, RetentionAge: time.Hour, Now: func() time.Time { return now }})
	defer l.Close()
	for range 6 {
		mustAppend(t, l, Record{Timestamp: now.UnixMilli(), Value: make([]byte, 60)})
	}
	l.RetainFrom(2)
	now = now.Add(2 * time.Hour)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if l.EarliestOffset() != 2 || !l.RetentionWaits() {
		t.Fatalf("kept from %d (want 2), waits %v", l.EarliestOffset(), l.RetentionWaits())
	}
	l.RetainFrom(6)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if l.EarliestOffset() != 5 || l.RetentionWaits() { // the active segment stays
		t.Fatalf("kept from %d (want 5), waits %v", l.EarliestOffset(), l.RetentionWaits())
	}
}
