package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"testing"
)

// peakBudget is a Budget that records what it lends.
type peakBudget struct {
	mu         sync.Mutex
	max        int64
	used, peak int64
}

func (b *peakBudget) Take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	b.peak = max(b.peak, b.used)
	return true
}

func (b *peakBudget) Give(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
}

// bomb is one batch of one record whose value is n zero bytes, compressed
// with c.
func bomb(t *testing.T, c Codec, n int) []byte {
	t.Helper()
	b, err := Build(nil, Header{}, c, []Record{{Value: make([]byte, n)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// allocated is the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A bomb is refused having held at most the limit and allocated about
// twice it in all (the buffer doubling up to it, never past it), not four
// times: the output grew through a bytes.Buffer, which doubled to
// 2×limit to find the byte past the limit, and one 512 MiB gzip bomb
// cost the broker 0.5 GB.
func TestBombAllocatesAtMostTheLimit(t *testing.T) {
	const limit = 8 << 20
	for _, c := range []Codec{Gzip, LZ4, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			b := bomb(t, c, 4*limit)
			h, err := CheckFrame(b)
			if err != nil {
				t.Fatal(err)
			}
			bud := &peakBudget{max: 1 << 40}
			var cerr error
			got := allocated(func() { _, cerr = CheckRecordsFunc(b, h, limit, bud, nil) })
			if !errors.Is(cerr, ErrTooLarge) {
				t.Fatalf("check = %v, want ErrTooLarge", cerr)
			}
			// The output's doublings sum to 2×limit; lz4's and zstd's
			// decoders hold block and window buffers of their own besides.
			if c == Gzip && got > 2*limit+limit/8 {
				t.Errorf("allocated %d bytes for a limit of %d", got, limit)
			}
			if bud.peak > limit+maxScratch || bud.used != 0 {
				t.Errorf("budget: peak %d (limit %d), %d still taken", bud.peak, limit, bud.used)
			}
		})
	}
}

// A check takes the budget as its output grows and gives all of it back;
// a check the budget has no room for is ErrBusy (not ErrCorrupt: the
// batch may pass later) and holds nothing.
func TestCheckChargesBudget(t *testing.T) {
	const size = 3 << 20
	for _, c := range []Codec{Gzip, Snappy, LZ4, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			b := bomb(t, c, size)
			h, err := CheckFrame(b)
			if err != nil {
				t.Fatal(err)
			}
			bud := &peakBudget{max: 1 << 40}
			if _, err := CheckRecordsFunc(b, h, 64<<20, bud, nil); err != nil {
				t.Fatal(err)
			}
			if bud.used != 0 || bud.peak < size || bud.peak > 2*size+maxScratch {
				t.Errorf("budget: peak %d for %d bytes, %d still taken", bud.peak, size, bud.used)
			}
			small := &peakBudget{max: size / 2}
			_, err = CheckRecordsFunc(b, h, 64<<20, small, nil)
			if !errors.Is(err, ErrBusy) || errors.Is(err, ErrCorrupt) {
				t.Fatalf("check over a small budget = %v, want ErrBusy", err)
			}
			if small.used != 0 {
				t.Errorf("a refused check holds %d bytes", small.used)
			}
		})
	}
}

// Snappy data says its decoded length up front; a length that its bytes
// cannot decode to is refused before anything is allocated for it (a
// 10-byte block claiming 100 MiB allocated 100 MiB).
func TestSnappyFalseLengthAllocatesNothing(t *testing.T) {
	src := binary.AppendUvarint(nil, 100<<20)
	src = append(src, 0, 'x') // a one-byte literal
	var err error
	got := allocated(func() { _, err = Decompress(nil, Snappy, src, 128<<20) })
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("decompress = %v, want ErrCorrupt", err)
	}
	if got > 64<<10 {
		t.Errorf("allocated %d bytes for a %d-byte block", got, len(src))
	}
	// Snappy at its densest still decodes.
	data := bytes.Repeat([]byte{'a'}, 1<<20)
	enc, _ := Compress(nil, Snappy, data)
	if out, err := Decompress(nil, Snappy, enc, 2<<20); err != nil || !bytes.Equal(out, data) {
		t.Fatalf("dense snappy (%d bytes for %d): %v", len(enc), len(data), err)
	}
}
