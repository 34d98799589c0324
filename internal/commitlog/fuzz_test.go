package commitlog

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeBatch feeds arbitrary bytes to the batch validator and to
// AppendBatch. Whatever checkBatch accepts must decode to exactly its record
// count with offsets base..base+n-1, must be accepted by AppendBatch and read
// back the same; whatever it refuses, AppendBatch must refuse without
// changing the log.
func FuzzDecodeBatch(f *testing.F) {
	var e encoder
	b, _ := e.encode(5, []Record{{Key: []byte("k"), Value: []byte("v"), Timestamp: 1, Headers: []Header{{Key: "h", Value: nil}}}, {Timestamp: 3}})
	f.Add(append([]byte(nil), b...))
	f.Add([]byte{})
	l, err := Open(f.TempDir(), Options{Fsync: FsyncNever, SegmentBytes: 1 << 16})
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := checkBatch(data)
		hwm := l.HighWatermark()
		base, aerr := l.AppendBatch(data)
		if err != nil {
			if aerr == nil || !(errors.Is(aerr, ErrCorrupt) || errors.Is(aerr, ErrUnsupported) || errors.Is(aerr, ErrBatchTooLarge)) {
				t.Fatalf("checkBatch: %v, but AppendBatch: %v", err, aerr)
			}
			if l.HighWatermark() != hwm {
				t.Fatal("a refused batch moved the high watermark")
			}
			return
		}
		recs, _, _, derr := appendRecords(nil, data, 0, math.MaxInt64, math.MaxInt, math.MaxInt)
		if derr != nil || len(recs) != int(info.records) {
			t.Fatalf("valid batch decodes to %d records, %v; want %d", len(recs), derr, info.records)
		}
		maxTS := recs[0].Timestamp
		for i, r := range recs {
			if r.Offset != info.base+int64(i) {
				t.Fatalf("record %d has offset %d, base %d", i, r.Offset, info.base)
			}
			maxTS = max(maxTS, r.Timestamp)
		}
		if maxTS != info.maxTS {
			t.Fatalf("maxTS %d, records say %d", info.maxTS, maxTS)
		}
		if aerr != nil || base != hwm {
			t.Fatalf("AppendBatch of a valid batch = %d, %v; want %d", base, aerr, hwm)
		}
		got, rerr := l.Read(base, len(recs), 1<<30)
		for i := range recs {
			recs[i].Offset = base + int64(i)
		}
		if rerr != nil || !recordsEqual(recs, got) {
			t.Fatalf("read back %v, %v; want %v", got, rerr, recs)
		}
	})
}

// FuzzRecover writes arbitrary bytes as the only (active) segment and opens
// the log: Open must not fail or panic, and must leave a valid log, readable
// to its end, that takes appends. What it holds is the valid batches, with
// the damage between them skipped (every offset below the high watermark is
// either read back or in a reported range) and a torn tail cut.
func FuzzRecover(f *testing.F) {
	var e encoder
	b1, _ := e.encode(0, []Record{{Value: []byte("one"), Timestamp: 10}})
	seed := append([]byte(nil), b1...)
	b2, _ := e.encode(1, []Record{{Key: []byte("k"), Value: []byte("two"), Timestamp: 20}, {Timestamp: 30}})
	seed = append(seed, b2...)
	f.Add(seed)
	f.Add(seed[:len(seed)-1])
	f.Add([]byte{})
	b3, _ := e.encode(3, []Record{{Value: []byte("three"), Timestamp: 40}})
	damaged := append(append([]byte(nil), seed...), b3...)
	damaged[len(b1)+30] ^= 0xff // inside the second batch: skipped, not cut
	f.Add(damaged)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "00000000000000000000.log"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, Options{Fsync: FsyncNever, IndexIntervalBytes: 64})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer l.Close()
		verifyLog(t, l)
		st := l.Stats()
		if st.EarliestOffset != 0 || st.Bytes > int64(len(data)) {
			t.Fatalf("stats %+v from %d bytes", st, len(data))
		}
		got, err := l.Read(0, 1<<20, 1<<30)
		if err != nil || int64(len(got)) != st.HighWatermark-st.CorruptOffsets {
			t.Fatalf("read %d records, %v; hwm %d, %d offsets damaged", len(got), err, st.HighWatermark, st.CorruptOffsets)
		}
		for i, r := range got {
			if _, skipped := l.Skipped(r.Offset); skipped || (i > 0 && r.Offset <= got[i-1].Offset) {
				t.Fatalf("record %d has offset %d (skipped %v) after %v", i, r.Offset, skipped, got[max(i-1, 0)].Offset)
			}
		}
		if base, err := l.Append([]Record{{Value: []byte("x")}}); err != nil || base != st.HighWatermark {
			t.Fatalf("append after recovery = %d, %v", base, err)
		}
	})
}
