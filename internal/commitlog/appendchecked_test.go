package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// AppendBatch writes the caller's bytes as they are, with only the base
// offset written into them: the batch is not copied into a buffer of the
// log's first.
func TestAppendBatchWritesInPlace(t *testing.T) {
	l := openT(t, t.TempDir(), Options{Now: newClock().Now})
	mustAppend(t, l, rec("a"), rec("b"))
	var e encoder
	b, _ := e.encode(999, []Record{{Value: []byte("x"), Timestamp: 5}, {Value: []byte("y"), Timestamp: 6}})
	buf := append([]byte(nil), b...)
	base, err := l.AppendBatch(buf)
	if err != nil || base != 2 {
		t.Fatalf("AppendBatch = %d, %v", base, err)
	}
	if got := recordbatch.BaseOffset(buf); got != base {
		t.Fatalf("caller's batch has base offset %d after the append, want %d written in place", got, base)
	}
	if _, err := recordbatch.Validate(buf, 1<<20); err != nil {
		t.Fatalf("batch after the append: %v", err)
	}
}

// CheckRecords calls fn with each record in order, with its absolute
// timestamp, attributes and size; fn's error comes back as is and leaves
// the batch unappendable, as does skipping CheckRecords: nothing is written.
func TestCheckedRecordsAndRefusals(t *testing.T) {
	l := openT(t, t.TempDir(), Options{Now: newClock().Now})
	var e encoder
	recs := []Record{
		{Key: []byte("k"), Value: []byte("v1"), Timestamp: 100},
		{Value: []byte("value2"), Timestamp: 90, Attributes: 1, Headers: []Header{{Key: "h", Value: []byte("12")}}},
		{Timestamp: 120},
	}
	b, _ := e.encode(0, recs)
	want := []BatchRecord{{Timestamp: 100, Size: 3}, {Timestamp: 90, Attributes: 1, Size: 9}, {Timestamp: 120}}

	c, err := CheckFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendChecked(&c); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("append before CheckRecords: %v, want ErrCorrupt", err)
	}
	stop := errors.New("rule of the caller")
	var seen []BatchRecord
	err = c.CheckRecords(Decompression{}, func(i int, r BatchRecord) error {
		if i != len(seen) {
			t.Fatalf("record %d after %d records", i, len(seen))
		}
		seen = append(seen, r)
		if i == 1 {
			return stop
		}
		return nil
	})
	if err != stop || len(seen) != 2 {
		t.Fatalf("CheckRecords = %v after %d records, want the caller's error after 2", err, len(seen))
	}
	if _, err := l.AppendChecked(&c); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("append after a refused record: %v, want ErrCorrupt", err)
	}
	if l.HighWatermark() != 0 {
		t.Fatalf("refused batches wrote records: high watermark %d", l.HighWatermark())
	}

	seen = nil
	if err := c.CheckRecords(Decompression{}, func(_ int, r BatchRecord) error { seen = append(seen, r); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("record %d seen as %+v, want %+v", i, seen[i], want[i])
		}
	}
	if base, err := l.AppendChecked(&c); err != nil || base != 0 || l.HighWatermark() != 3 {
		t.Fatalf("AppendChecked = %d, %v; high watermark %d", base, err, l.HighWatermark())
	}

	// A record cut short is ErrCorrupt even with a caller's check.
	bad := append([]byte(nil), b...)
	bad[len(bad)-1] = 0x7f // the last record's header count now claims more than is there
	recordbatch.SetCRC(bad)
	c, err = CheckFrame(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckRecords(Decompression{}, func(int, BatchRecord) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt record: %v, want ErrCorrupt", err)
	}
}

// FuzzCheckedAgreesWithValidate: for any bytes, the one-pass check
// (CheckFrame, then CheckRecords with a caller's function) takes exactly
// what checkBatch takes, calls the function once per record in order, and
// what it took appends and reads back whole.
func FuzzCheckedAgreesWithValidate(f *testing.F) {
	var e encoder
	b, _ := e.encode(0, []Record{{Value: []byte("one"), Timestamp: 10}, {Key: []byte("k"), Timestamp: 5, Headers: []Header{{Key: "h"}}}})
	f.Add(append([]byte(nil), b...))
	f.Add(b[:len(b)-1])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		info, wantErr := checkBatch(data)
		calls := 0
		c, err := CheckFrame(data)
		if err == nil {
			err = c.CheckRecords(Decompression{}, func(i int, _ BatchRecord) error {
				if i != calls {
					t.Fatalf("record %d after %d calls", i, calls)
				}
				calls++
				return nil
			})
		}
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("one pass: %v; checkBatch: %v", err, wantErr)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error outside ErrCorrupt and ErrUnsupported: %v", err)
			}
			return
		}
		if calls != int(info.records) || c.NumRecords() != info.records {
			t.Fatalf("%d calls, %d records claimed, checkBatch says %d", calls, c.NumRecords(), info.records)
		}
		l := openT(t, t.TempDir(), Options{Fsync: FsyncNever, Now: newClock().Now})
		if base, err := l.AppendChecked(&c); err != nil || base != 0 {
			t.Fatalf("AppendChecked = %d, %v", base, err)
		}
		got, err := l.Read(0, 1<<20, 1<<30)
		if err != nil || len(got) != int(info.records) {
			t.Fatalf("read back %d of %d records: %v", len(got), info.records, err)
		}
	})
}

// SetMaxTimestamp writes the records' largest timestamp over a false
// claim, with a CRC that holds, and leaves a true claim's bytes alone.
func TestSetMaxTimestamp(t *testing.T) {
	var e encoder
	b, _ := e.encode(0, []Record{{Value: []byte("x"), Timestamp: 5}, {Value: []byte("y"), Timestamp: 9}, {Timestamp: 7}})
	for _, claim := range []int64{9, 5, 100, -1} {
		buf := append([]byte(nil), b...)
		binary.BigEndian.PutUint64(buf[recordbatch.OffMaxTimestamp:], uint64(claim))
		recordbatch.SetCRC(buf)
		before := append([]byte(nil), buf...)
		c, err := CheckFrame(buf)
		if err == nil {
			err = c.CheckRecords(Decompression{}, nil)
		}
		if err != nil {
			t.Fatalf("claim %d: %v", claim, err)
		}
		c.SetMaxTimestamp()
		if got := recordbatch.MaxTimestamp(buf); got != 9 {
			t.Fatalf("claim %d: header says %d after SetMaxTimestamp, want 9", claim, got)
		}
		if _, err := recordbatch.Validate(buf, 1<<20); err != nil {
			t.Fatalf("claim %d: %v", claim, err)
		}
		if claim == 9 && !bytes.Equal(buf, before) {
			t.Fatal("a true claim's batch changed")
		}
	}
}
