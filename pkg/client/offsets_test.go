package client

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

// heldOffsets behaves as a set of offsets under adds and removes in any
// order, mostly ascending as polls hand messages out, with redeliveries.
func TestHeldOffsetsModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var h heldOffsets
		model := map[int64]bool{}
		next := int64(0)
		for range 2000 {
			switch op := r.IntN(10); {
			case op < 4: // the next offsets, in order
				off := next
				next++
				if got, want := h.add(off), !model[off]; got != want {
					t.Fatalf("round %d: add(%d) = %v, want %v", round, off, got, want)
				}
				model[off] = true
			case op < 5 && next > 0: // a redelivery, maybe still held
				off := r.Int64N(next)
				if got, want := h.add(off), !model[off]; got != want {
					t.Fatalf("round %d: re-add(%d) = %v, want %v", round, off, got, want)
				}
				model[off] = true
			case op < 8: // settle the oldest held, as in-order acks do
				off := int64(-1)
				for o := range model {
					if off < 0 || o < off {
						off = o
					}
				}
				if off < 0 {
					continue
				}
				if !h.remove(off) {
					t.Fatalf("round %d: remove(%d) of the lowest = false", round, off)
				}
				delete(model, off)
			case next > 0: // settle any offset, held or not
				off := r.Int64N(next + 2)
				if got, want := h.remove(off), model[off]; got != want {
					t.Fatalf("round %d: remove(%d) = %v, want %v", round, off, got, want)
				}
				delete(model, off)
			}
			if h.live != len(model) {
				t.Fatalf("round %d: live %d, want %d", round, h.live, len(model))
			}
		}
		var got []int64
		h.each(func(off int64) { got = append(got, off) })
		var want []int64
		for o := range model {
			want = append(want, o)
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: each = %v\nwant %v", round, got, want)
		}
		if len(h.offs) > 2*h.live+130 {
			t.Fatalf("round %d: %d entries kept for %d held", round, len(h.offs), h.live)
		}
	}
}

// spanList holds exactly the offsets added, as disjoint, non-adjacent,
// ascending spans.
func TestSpanListModel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 500 {
		var l spanList
		model := map[int64]bool{}
		for range 50 {
			from := r.Int64N(200)
			to := from + r.Int64N(5)
			l.add(from, to)
			for o := from; o < to; o++ {
				model[o] = true
			}
		}
		for i, sp := range l {
			if sp.from >= sp.to || (i > 0 && l[i-1].to >= sp.from) {
				t.Fatalf("round %d: spans %v not disjoint, ascending and apart", round, l)
			}
		}
		n := 0
		for _, sp := range l {
			for o := sp.from; o < sp.to; o++ {
				if !model[o] {
					t.Fatalf("round %d: %d in %v, never added", round, o, l)
				}
				n++
			}
		}
		if n != len(model) {
			t.Fatalf("round %d: spans %v name %d offsets, want %d", round, l, n, len(model))
		}
	}
}

// nextRequest cuts ranges into requests within both limits, naming every
// offset once and in order.
func TestNextRequest(t *testing.T) {
	var ranges []api.OffsetRange
	for i := range maxRangesPerRequest + 10 {
		ranges = append(ranges, api.OffsetRange{Topic: "a", Partition: 0, From: int64(3 * i), To: int64(3*i + 1)})
	}
	ranges = append(ranges, api.OffsetRange{Topic: "b", Partition: 1, From: 0, To: 2*api.MaxRangeMessages + 7})
	want := slices.Clone(ranges)
	var got []api.OffsetRange
	for rest := ranges; len(rest) > 0; {
		var req []api.OffsetRange
		req, rest = nextRequest(rest)
		var named int64
		for _, r := range req {
			named += r.To - r.From
		}
		if len(req) == 0 || len(req) > maxRangesPerRequest || named > api.MaxRangeMessages {
			t.Fatalf("request of %d ranges naming %d", len(req), named)
		}
		for _, r := range req {
			if n := len(got); n > 0 && got[n-1].Topic == r.Topic && got[n-1].To == r.From {
				got[n-1].To = r.To // a range cut in two
				continue
			}
			got = append(got, r)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("requests named %d ranges, want %d (or different ones)", len(got), len(want))
	}
}
