package commitlog

import (
	"bytes"
	"fmt"
	"strings"
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
		raw, err := l.ReadBatches(5, 1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Offset 5 is in the third batch (offsets 4 and 5); every batch from
		// there on comes back as sent.
		if !bytes.Equal(raw, bytes.Join(sent[2:], nil)) {
			t.Fatalf("raw read from offset 5: %d bytes, not the %d of the batches as sent", len(raw), len(bytes.Join(sent[2:], nil)))
		}
		one, err := l.ReadBatches(5, 1, nil)
		if err != nil || !bytes.Equal(one, sent[2]) {
			t.Fatalf("a tiny maxBytes still gets the first batch: %d bytes, %v", len(one), err)
		}
		// Appended to dst: what dst held stays, and maxBytes counts only
		// what the read adds.
		two := bytes.Join(sent[2:4], nil)
		got, err := l.ReadBatches(5, len(two), []byte("kept"))
		if err != nil || !bytes.Equal(got, append([]byte("kept"), two...)) {
			t.Fatalf("read appended to dst: %d bytes, %v", len(got), err)
		}
		// Reads that start past a chunk's first batch move the batches
		// they keep down over it: damage seen there would be a bug.
		if c := l.Corruption(); len(c) != 0 {
			t.Fatalf("raw reads recorded damage that is not there: %v", c)
		}
		if off, err := l.OffsetForTimestamp(1000); err != nil || off != 0 {
			t.Fatalf("offset for timestamp: %d %v", off, err)
		}
	}
	check(l)
	all, err := l.ReadBatches(0, 1<<30, nil)
	if err != nil || !bytes.Equal(all, bytes.Join(sent, nil)) {
		t.Fatalf("whole log raw: %v, equal %v", err, bytes.Equal(all, bytes.Join(sent, nil)))
	}
	if empty, err := l.ReadBatches(40, 100, nil); err != nil || len(empty) != 0 {
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

// A read from the middle of an index interval reads the batches before the
// one it wants too, and moves the ones it keeps down over them; the walk
// must not then take the moved bytes for the next batch's header (it did,
// and called the segment damaged from there on).
func TestReadBatchesFromInsideAnIndexInterval(t *testing.T) {
	l := openT(t, t.TempDir(), Options{IndexIntervalBytes: 1 << 20})
	for i := range 10 {
		// Each batch longer than the one before: moved down, a batch
		// overlaps where it was read.
		v := strings.Repeat("v", 20*i)
		mustAppend(t, l, rec(v), rec(v))
	}
	all, err := l.ReadBatches(0, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	for from := int64(1); from < 20; from++ {
		got, err := l.ReadBatches(from, 1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Batches of two: the one holding from and all after it.
		skip := 0
		for range from / 2 {
			n, _ := recordbatch.Len(all[skip:])
			skip += n
		}
		if !bytes.Equal(got, all[skip:]) {
			t.Fatalf("from %d: %d bytes, want the last %d of the log", from, len(got), len(all)-skip)
		}
	}
	if c := l.Corruption(); len(c) != 0 {
		t.Fatalf("reads recorded damage that is not there: %v", c)
	}
}

// ReadSize bounds the room ReadBatches reads into, over several segments
// and index entries, so a reader sized by it never grows its buffer; the
// bound is not loose past one index interval.
func TestReadSizeBoundsReadBatches(t *testing.T) {
	l, err := Open(t.TempDir(), Options{SegmentBytes: 8 << 10, IndexIntervalBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var sizes []int // of the batch at each offset
	for i := range 120 {
		recs := make([]recordbatch.Record, 1+i%3)
		for j := range recs {
			recs[j].Value = bytes.Repeat([]byte{byte(i)}, 10+i*7%300)
		}
		b, err := recordbatch.Build(nil, recordbatch.Header{ProducerID: -1}, recordbatch.None, recs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.AppendBatch(b); err != nil {
			t.Fatal(err)
		}
		for range recs {
			sizes = append(sizes, len(b))
		}
	}
	hwm := l.HighWatermark()
	for off := int64(0); off <= hwm; off += 7 {
		for _, max := range []int{1, 300, 2000, 20000, 1 << 20} {
			size := l.ReadSize(off, max)
			dst := make([]byte, 3, 3+size)
			got, err := l.ReadBatches(off, max, dst)
			if err != nil {
				t.Fatal(err)
			}
			grew := &got[:cap(got)][cap(got)-1] != &dst[:cap(dst)][cap(dst)-1]
			got = got[3:]
			// Growing is for the batch after the last read, looked at to
			// see that it does not fit; never for the first, however
			// much larger than max it is.
			end := off
			for b := got; len(b) > 0; {
				n, _ := recordbatch.Len(b)
				end = recordbatch.BaseOffset(b) + int64(recordbatch.NumRecords(b))
				b = b[n:]
			}
			nextTooLarge := end < hwm && len(got)+sizes[end] > max
			if grew && !nextTooLarge {
				t.Fatalf("offset %d max %d: read %d bytes into room for %d: it grew the buffer", off, max, len(got), size)
			}
			if slack := size - len(got); off < hwm && max >= 20000 && slack > 2*512+300*3+recordbatch.HeaderLen*2 {
				t.Fatalf("offset %d max %d: ReadSize %d for a read of %d", off, max, size, len(got))
			}
		}
	}
	if n := l.ReadSize(hwm+1, 100); n != 0 {
		t.Fatalf("ReadSize past the high watermark: %d", n)
	}
}

// A read that holds a batch stops at one that cannot fit: it does not read
// that batch only to leave it out (its buffer never grew to hold it).
func TestReadBatchesStopsBeforeABatchThatCannotFit(t *testing.T) {
	l, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var sizes []int
	for range 3 {
		recs := make([]recordbatch.Record, 1100) // past maxReadChunk, as the Go client's batches are
		for i := range recs {
			recs[i].Value = bytes.Repeat([]byte("v"), 1000)
		}
		b, err := recordbatch.Build(nil, recordbatch.NewHeader(0), recordbatch.None, recs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.AppendBatch(b); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(b))
	}
	for _, maxBytes := range []int{1, sizes[0] + 1, sizes[0] + sizes[1]/2} {
		got, err := l.ReadBatches(0, maxBytes, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != sizes[0] || cap(got) >= sizes[0]+sizes[1] {
			t.Errorf("maxBytes %d: read %d bytes into %d; want the first batch's %d in less than two batches' %d",
				maxBytes, len(got), cap(got), sizes[0], sizes[0]+sizes[1])
		}
	}
	if got, err := l.ReadBatches(0, sizes[0]+sizes[1], nil); err != nil || len(got) != sizes[0]+sizes[1] {
		t.Errorf("room for two: read %d bytes, %v; want %d", len(got), err, sizes[0]+sizes[1])
	}
}
