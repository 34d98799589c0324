package meta

import (
	"errors"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// Blocks reserved by any node, before and after a snapshot is restored
// (a restart, or a node catching up from a snapshot), never overlap and
// never start again from an earlier ID.
func TestProducerIDBlocksNeverOverlap(t *testing.T) {
	s := New()
	var blocks []ProducerIDBlock
	reserve := func(s *Store, node uint64, count int64) {
		t.Helper()
		r := apply(t, s, s.Applied()+1, Command{ReserveProducerIDs: &ReserveProducerIDs{Node: node, Count: count}})
		if r.Err != nil || r.ProducerIDs == nil {
			t.Fatalf("reserve %d for node %d: %+v", count, node, r)
		}
		if r.ProducerIDs.Count != count {
			t.Fatalf("reserved %+v, want %d IDs", *r.ProducerIDs, count)
		}
		blocks = append(blocks, *r.ProducerIDs)
	}
	for i := range 6 {
		reserve(s, uint64(i%3+1), int64(1+i*7))
	}
	restored := testkit.Restored(t, New, testkit.Snap(t, s))
	for i := range 3 {
		reserve(restored, uint64(i+1), 1000)
	}
	for i, a := range blocks {
		for j, b := range blocks[:i] {
			if a.First < b.First+b.Count && b.First < a.First+a.Count {
				t.Fatalf("block %d %+v overlaps block %d %+v", i, a, j, b)
			}
		}
		if i > 0 && a.First < blocks[i-1].First {
			t.Fatalf("block %d %+v starts before block %d %+v", i, a, i-1, blocks[i-1])
		}
	}
}

func TestProducerIDBlocksRefused(t *testing.T) {
	for _, r := range []ReserveProducerIDs{{Node: 0, Count: 10}, {Node: 1, Count: 0}, {Node: 1, Count: -5}, {Node: 1, Count: maxProducerIDBlock + 1}} {
		s := New()
		res := apply(t, s, 1, Command{ReserveProducerIDs: &r})
		if !errors.Is(res.Err, ErrInvalid) || res.ProducerIDs != nil {
			t.Errorf("%+v: %+v, want ErrInvalid", r, res)
		}
		// A refusal reserves nothing: the next block starts at 0.
		if got := apply(t, s, 2, Command{ReserveProducerIDs: &ReserveProducerIDs{Node: 1, Count: 1}}); got.ProducerIDs == nil || got.ProducerIDs.First != 0 {
			t.Errorf("after %+v: %+v", r, got)
		}
	}
}
