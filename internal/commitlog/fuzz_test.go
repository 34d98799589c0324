package commitlog

import (
	"os"
	"path/filepath"
	"testing"
)

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
