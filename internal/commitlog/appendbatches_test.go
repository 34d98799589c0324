package commitlog

import (
	"errors"
	"testing"
)

// AppendBatches appends back-to-back batches with consecutive offsets and,
// under FsyncAlways, returns with all of them durable and visible; a torn
// tail is refused before anything is written.
func TestAppendBatches(t *testing.T) {
	l := openT(t, t.TempDir(), Options{Now: newClock().Now, Fsync: FsyncAlways})
	mustAppend(t, l, rec("first"))
	var e encoder
	var all []byte
	for _, v := range []string{"a", "b", "c"} {
		b, _ := e.encode(999, []Record{{Value: []byte(v), Timestamp: 5}, {Value: []byte(v + "2"), Timestamp: 6}})
		all = append(all, b...)
	}
	base, err := l.AppendBatches(all)
	if err != nil || base != 1 {
		t.Fatalf("AppendBatches = %d, %v", base, err)
	}
	if l.NextOffset() != 7 || l.HighWatermark() != 7 {
		t.Fatalf("next %d, high watermark %d; want 7 and 7", l.NextOffset(), l.HighWatermark())
	}
	got, err := l.Read(1, 10, 1<<20)
	if err != nil || len(got) != 6 || string(got[2].Value) != "b" || got[5].Offset != 6 {
		t.Fatalf("read back: %v %+v", err, got)
	}
	if _, err := l.AppendBatches(all[:len(all)-3]); !errors.Is(err, ErrCorrupt) || l.NextOffset() != 7 {
		t.Fatalf("torn batches: %v, next %d", err, l.NextOffset())
	}
	if _, err := l.AppendBatches(nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("no batches: %v", err)
	}
}
