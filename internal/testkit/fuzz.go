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

// Snapshotter is a Raft state machine as its snapshot tests use it.
type Snapshotter interface {
	Snapshot() ([]byte, error)
	Restore([]byte) error
}

// Snap is s's snapshot, failing tb if it cannot be taken.
func Snap(tb testing.TB, s Snapshotter) []byte {
	tb.Helper()
	b, err := s.Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Restored is fresh() restored from b, failing tb if b does not restore.
func Restored[S Snapshotter](tb testing.TB, fresh func() S, b []byte) S {
	tb.Helper()
	s := fresh()
	if err := s.Restore(b); err != nil {
		tb.Fatalf("restore %s: %v", b, err)
	}
	return s
}
