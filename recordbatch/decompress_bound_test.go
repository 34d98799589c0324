package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/pierrec/lz4/v4"
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
			if bud.peak > limit+maxScratch+blockCharge(c) || bud.used != 0 {
				t.Errorf("budget: peak %d (limit %d), %d still taken", bud.peak, limit, bud.used)
			}
		})
	}
}

// blockCharge is what a decompression with c charges besides its output:
// an LZ4 reader's two blocks, of 4 MiB in the Go writer's frames.
func blockCharge(c Codec) int64 {
	if c == LZ4 {
		return 2 * lz4Largest
	}
	return 0
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
			if bud.used != 0 || bud.peak < size || bud.peak > 2*size+maxScratch+blockCharge(c) {
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

// zstdRawFrame is a zstd frame holding content in one raw block, whose
// header declares the window windowByte encodes (exponent << 3, from
// 1 KiB: 0x88 is 128 MiB) and no content size.
func zstdRawFrame(windowByte byte, content []byte) []byte {
	f := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, windowByte}
	h := 1 | len(content)<<3 // last block, raw
	f = append(f, byte(h), byte(h>>8), byte(h>>16))
	return append(f, content...)
}

// lz4Frame is src compressed as one LZ4 frame of blocks of bs.
func lz4Frame(t testing.TB, bs lz4.BlockSize, src []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := lz4.NewWriter(&buf)
	if err := zw.Apply(lz4.BlockSizeOption(bs)); err != nil {
		t.Fatal(err)
	}
	zw.Write(src)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// What the decoders hold besides their output is bounded or charged: a
// zstd frame is decoded into the charged output, whatever window it
// declares (19 bytes declaring 128 MiB allocated 134 MB, uncharged, and
// 64 such batches checked at once 8.6 GB), and an LZ4 reader's block
// buffers, which the frame sizes (two of 4 MiB for a 1 KiB value in the
// Go writer's default blocks), are charged while it decodes.
func TestDecoderBuffersAreBounded(t *testing.T) {
	const limit = 128 << 20
	small := bytes.Repeat([]byte("abcdefgh"), 128)
	for _, tc := range []struct {
		name        string
		c           Codec
		src         []byte
		wantErr     error
		mostAlloc   uint64 // allocated in all
		leastCharge int64  // the budget's peak
		mostCharge  int64
	}{
		{"zstd 128 MiB window", Zstd, zstdRawFrame(0x88, []byte("0123456789")), nil, 1 << 20, 1, 1 << 20},
		{"zstd 2 GiB window", Zstd, zstdRawFrame(0xa8, []byte("0123456789")), ErrTooLarge, 1 << 20, 0, 1 << 20},
		// The reader's two blocks: as read, and decompressed.
		{"lz4 4 MiB blocks", LZ4, lz4Frame(t, lz4.Block4Mb, small), nil, 9 << 20, 8 << 20, 9 << 20},
		{"lz4 64 KiB blocks", LZ4, lz4Frame(t, lz4.Block64Kb, small), nil, 1 << 20, 128 << 10, 512 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bud := &peakBudget{max: 1 << 40}
			var (
				out     []byte
				charged int64
				err     error
			)
			got := allocated(func() { out, charged, err = decompress(nil, tc.c, tc.src, limit, bud) })
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("decompress = %v; want %v", err, tc.wantErr)
			}
			if err == nil && len(out) == 0 {
				t.Fatal("decompressed nothing")
			}
			give(bud, charged)
			if got > tc.mostAlloc || bud.peak < tc.leastCharge || bud.peak > tc.mostCharge || bud.used != 0 {
				t.Fatalf("allocated %d bytes (at most %d), budget peak %d (want %d to %d), %d still taken",
					got, tc.mostAlloc, bud.peak, tc.leastCharge, tc.mostCharge, bud.used)
			}
			if tc.leastCharge > 0 {
				tight := &peakBudget{max: tc.leastCharge - 1}
				if _, _, err := decompress(nil, tc.c, tc.src, limit, tight); !errors.Is(err, ErrBusy) || tight.used != 0 {
					t.Fatalf("decompress in a budget of %d: %v, %d taken; want ErrBusy, none", tight.max, err, tight.used)
				}
			}
		})
	}
}

// FuzzDecompress: whatever the data, a decompression never panics, fails
// only with ErrCorrupt, ErrTooLarge or ErrBusy, gives out at most its
// limit, and leaves charged to its budget only what it says it charged.
func FuzzDecompress(f *testing.F) {
	small := bytes.Repeat([]byte("abcdefgh"), 64)
	for _, c := range []Codec{Gzip, Snappy, LZ4, Zstd} {
		enc, _ := Compress(nil, c, small)
		f.Add(int8(c), enc, int64(1<<20))
	}
	f.Add(int8(Zstd), zstdRawFrame(0x88, []byte("0123456789")), int64(1<<20))
	f.Add(int8(LZ4), lz4Frame(f, lz4.Block64Kb, small), int64(64<<10))
	f.Fuzz(func(t *testing.T, c int8, src []byte, budget int64) {
		const limit = 1 << 16
		bud := &peakBudget{max: budget}
		out, charged, err := decompress(nil, Codec(c), src, limit, bud)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrBusy) {
				t.Fatalf("error outside ErrCorrupt, ErrTooLarge and ErrBusy: %v", err)
			}
			if bud.used != 0 {
				t.Fatalf("a failed decompression left %d bytes taken", bud.used)
			}
			return
		}
		if len(out) > limit {
			t.Fatalf("%d bytes out, limit %d", len(out), limit)
		}
		if bud.used != charged {
			t.Fatalf("%d bytes taken, %d said charged", bud.used, charged)
		}
	})
}
