package recordbatch

import (
	"encoding/binary"
	"math"
	"testing"
)

// varint's one- and two-byte fast paths decode exactly as binary.Varint:
// every input of up to two bytes (truncated ones and non-minimal encodings
// included), and values around the boundaries of each length.
func TestVarintMatchesBinaryVarint(t *testing.T) {
	check := func(p []byte) {
		t.Helper()
		want, k := binary.Varint(p)
		got, rest, ok := varint(p)
		if ok != (k > 0) || (ok && (got != want || len(rest) != len(p)-k)) {
			t.Fatalf("varint(%x) = %d, %d left, %v; binary.Varint = %d, %d", p, got, len(rest), ok, want, k)
		}
	}
	check(nil)
	for a := range 256 {
		check([]byte{byte(a)})
		for b := range 256 {
			check([]byte{byte(a), byte(b)})
			check([]byte{byte(a), byte(b), 0x01})
		}
	}
	for _, x := range []int64{0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, -8193, 1 << 40, math.MaxInt64, math.MinInt64} {
		check(append(binary.AppendVarint(nil, x), 0x7f))
	}
}
