package testkit

import (
	"bytes"
	"testing"
)

// AddDamaged adds b to f's seed corpus, and for each position of at (by
// default Spots(b)) b cut there and b with the byte there changed: the
// damage a decoder of stored or received bytes meets (a torn write, a
// flipped bit). Positions outside b are skipped.
func AddDamaged(f *testing.F, b []byte, at ...int) {
	f.Add(b)
	if len(at) == 0 {
		at = Spots(b)
	}
	for _, i := range at {
		if i < 0 || i >= len(b) {
			continue
		}
		f.Add(b[:i])
		c := bytes.Clone(b)
		c[i] ^= 0x20
		f.Add(c)
	}
}

// Spots are positions spread over b: its first two bytes, a third of the
// way, the middle and its last two bytes.
func Spots(b []byte) []int {
	n := len(b)
	return []int{0, 1, n / 3, n / 2, n - 2, n - 1}
}
