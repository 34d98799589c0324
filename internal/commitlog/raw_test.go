package commitlog

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// Compressed batches are stored as sent, read back record by record, served
// byte for byte by ReadBatches, and survive a reopen (recovery checks them).
func TestCompressedBatchesStoredAsSent(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	var sent [][]byte
	codecs := []recordbatch.Codec{recordbatch.Gzip, recordbatch.Snappy, recordbatch.LZ4, recordbatch.Zstd, recordbatch.None}
	for i := range 20 {
		c := codecs[i%len(codecs)]
		recs := []recordbatch.Record{
			{Key: []byte("k"), Value: fmt.Appendf(nil, "value %d-0 %s", i, bytes.Repeat([]byte("z"), 100))},
			{Value: fmt.Appendf(nil, "value %d-1", i), Headers: []recordbatch.RecordHeader{{Key: "h", Value: []byte("v")}}},
		}
		b, err := recordbatch.Build(nil, recordbatch.Header{FirstTimestamp: 1000, MaxTimestamp: 1000, ProducerID: 9, BaseSequence: int32(2 * i)}, c, recs)
		if err != nil {
			t.Fatal(err)
		}
		base, err := l.AppendBatch(b)
		if err != nil {
			t.Fatalf("append %v batch: %v", c, err)
		}
		if base != int64(2*i) {
			t.Fatalf("base %d, want %d", base, 2*i)
		}
		recordbatch.SetBaseOffset(b, base)
		sent = append(sent, b)
	}
	check := func(l *Log) {
		t.Helper()
		recs, err := l.Read(0, 100, 1<<20)
		if err != nil || len(recs) != 40 {
			t.Fatalf("read %d records: %v", len(recs), err)
		}
		for i, r := range recs {
			if want := fmt.Sprintf("value %d-%d", i/2, i%2); !bytes.HasPrefix(r.Value, []byte(want)) || r.Offset != int64(i) {
				t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
			}
		}
		raw, err := l.ReadBatches(5, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		// Offset 5 is in the third batch (offsets 4 and 5); every batch from
		// there on, in the first segment at least, comes back as sent.
		if !bytes.HasPrefix(raw, bytes.Join(sent[2:4], nil)) {
			t.Fatalf("raw read does not start with the batches as sent")
		}
		one, err := l.ReadBatches(5, 1)
		if err != nil || !bytes.Equal(one, sent[2]) {
			t.Fatalf("a tiny maxBytes still gets the first batch: %d bytes, %v", len(one), err)
		}
		if off, err := l.OffsetForTimestamp(1000); err != nil || off != 0 {
			t.Fatalf("offset for timestamp: %d %v", off, err)
		}
	}
	check(l)
	all, err := l.ReadBatches(0, 1<<30)
	if err != nil || !bytes.Equal(all, bytes.Join(sent, nil)) {
		t.Fatalf("whole log raw: %v, equal %v", err, bytes.Equal(all, bytes.Join(sent, nil)))
	}
	if empty, err := l.ReadBatches(40, 100); err != nil || len(empty) != 0 {
		t.Fatalf("at the high watermark: %d bytes, %v", len(empty), err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(dir, Options{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Recovery() != (Recovery{}) || l.HighWatermark() != 40 {
		t.Fatalf("reopen: recovery %+v, hwm %d", l.Recovery(), l.HighWatermark())
	}
	check(l)
}
