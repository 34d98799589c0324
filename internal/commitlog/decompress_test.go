package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// meter is a recordbatch.Budget of max bytes that remembers the most it
// held at once.
type meter struct {
	mu              sync.Mutex
	max, used, peak int64
}

func (m *meter) Take(n int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used+n > m.max {
		return false
	}
	m.used += n
	m.peak = max(m.peak, m.used)
	return true
}

func (m *meter) Give(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.used -= n
}

func (m *meter) held() (used, peak int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used, m.peak
}

// Reads of a compressed batch charge its decompressed records to the
// log's budget while they decode them and give them back after; what a
// read returns pins only its own records' bytes, not the batch's; a read
// the budget has no room for fails with ErrBusy, which is not damage.
// Readers of compressed topics once held a whole decompressed batch each,
// uncharged: a read of one record of it kept all of it.
func TestReadChargesDecompression(t *testing.T) {
	const records, size = 100, 1 << 10
	for _, c := range []recordbatch.Codec{recordbatch.Gzip, recordbatch.Snappy, recordbatch.LZ4, recordbatch.Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			m := &meter{max: 1 << 30}
			l, err := Open(t.TempDir(), Options{Decompress: m})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var recs []recordbatch.Record
			for i := range records {
				recs = append(recs, recordbatch.Record{Key: fmt.Appendf(nil, "k%d", i), Value: bytes.Repeat([]byte{byte('a' + i%26)}, size),
					Headers: []recordbatch.RecordHeader{{Key: "h", Value: fmt.Appendf(nil, "v%d", i)}}})
			}
			b, err := recordbatch.Build(nil, recordbatch.Header{FirstTimestamp: 1000, MaxTimestamp: 1000}, c, recs)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.AppendBatch(b); err != nil {
				t.Fatal(err)
			}
			got, err := l.Read(50, 1, 1)
			if err != nil || len(got) == 0 {
				t.Fatalf("read: %d records, %v", len(got), err)
			}
			r := got[len(got)-1]
			if used, peak := m.held(); used != 0 || peak < records*size {
				t.Fatalf("budget after a read: %d bytes held, at most %d; want 0 held, at least the %d decompressed", used, peak, records*size)
			}
			// The buffer a read decompressed into goes back to a pool for
			// the next read: what a read returned must not be in it.
			// Each read's buffer is scribbled over as the next read would
			// (sync.Pool may drop a buffer, so several rounds).
			var kept []Record
			for off := range int64(10) {
				got, err := l.Read(off, 1, 1)
				if err != nil || len(got) == 0 {
					t.Fatalf("read %d: %d records, %v", off, len(got), err)
				}
				kept = append(kept, got[0])
				if buf, _ := l.dec.bufs.Get().(*[]byte); buf != nil {
					full := (*buf)[:cap(*buf)]
					for i := range full {
						full[i] = 0xff
					}
					l.dec.bufs.Put(buf)
				}
			}
			for _, r := range append(kept, r) {
				if off := r.Offset; string(r.Key) != fmt.Sprint("k", off) || !bytes.Equal(r.Value, recs[off].Value) || string(r.Headers[0].Value) != fmt.Sprint("v", off) {
					t.Fatalf("record %d changed after another read: key %q header %q", off, r.Key, r.Headers[0].Value)
				}
			}

			m.Take(m.max) // the budget is spent
			if _, err := l.Read(50, 1, 1); !errors.Is(err, recordbatch.ErrBusy) || errors.Is(err, ErrCorrupt) {
				t.Fatalf("read with the budget spent: %v; want ErrBusy, not ErrCorrupt", err)
			}
			if _, err := l.OffsetForTimestamp(1000); !errors.Is(err, recordbatch.ErrBusy) {
				t.Fatalf("offset for timestamp with the budget spent: %v; want ErrBusy", err)
			}
			if d := l.Corruption(); len(d) != 0 {
				t.Fatalf("a refused read recorded damage: %v", d)
			}
			m.Give(m.max)
			if off, err := l.OffsetForTimestamp(1000); err != nil || off != 0 {
				t.Fatalf("offset for timestamp: %d, %v", off, err)
			}
			if used, _ := m.held(); used != 0 {
				t.Fatalf("%d bytes still held after the reads", used)
			}
		})
	}
}
