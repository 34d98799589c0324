package bench

import (
	"math"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

func TestBucketBounds(t *testing.T) {
	for _, tc := range []struct {
		v      int64
		lo, hi int64
	}{
		{0, 0, 0},
		{1, 1, 1},
		{127, 127, 127},
		{128, 128, 128},
		{255, 255, 255},
		{256, 256, 257},
		{257, 256, 257},
		{1000, 1000, 1003},
		{1 << 20, 1 << 20, 1<<20 + 1<<13 - 1},
		{math.MaxInt64, math.MaxInt64 - (1<<55 - 1), math.MaxInt64},
	} {
		lo, hi := bucketRange(bucketOf(tc.v))
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("bucket of %d holds [%d, %d], want [%d, %d]", tc.v, lo, hi, tc.lo, tc.hi)
		}
	}
	if got := bucketOf(math.MaxInt64); got != numBuckets-1 {
		t.Errorf("largest value in bucket %d of %d", got, numBuckets)
	}
}

func TestBucketsAreContiguous(t *testing.T) {
	prevHi := int64(-1)
	for i := range numBuckets {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d is [%d, %d] after one ending at %d", i, lo, hi, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d: its bounds map to %d and %d", i, bucketOf(lo), bucketOf(hi))
		}
		prevHi = hi
	}
	if prevHi != math.MaxInt64 {
		t.Fatalf("buckets end at %d", prevHi)
	}
}

func TestQuantiles(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Max() != 0 {
		t.Fatal("empty histogram is not zero")
	}
	for v := int64(1); v <= 100; v++ {
		h.Record(v * 1000) // 1 µs .. 100 µs
	}
	h.Record(-5) // counts as 0
	for _, tc := range []struct {
		q    float64
		want int64 // exact order statistic; the answer may exceed it by 1/128
	}{
		{0.001, 0},
		{0.5, 50000},
		{0.99, 99000},
		{0.999, 100000},
		{1, 100000},
	} {
		got := h.Quantile(tc.q)
		if got < tc.want || float64(got-tc.want) > float64(tc.want)/128 {
			t.Errorf("q%.3f = %d, want %d (+1/128)", tc.q, got, tc.want)
		}
	}
	if h.Count() != 101 || h.Max() != 100000 {
		t.Errorf("count %d max %d", h.Count(), h.Max())
	}
}

// TestQuantileMatchesSorted: for any values, split over two histograms and
// merged, Quantile lies between the exact order statistic and 1/128 above it.
func TestQuantileMatchesSorted(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		vals := rapid.SliceOfN(rapid.Int64Range(0, 1<<40), 1, 500).Draw(t, "vals")
		cut := rapid.IntRange(0, len(vals)).Draw(t, "cut")
		q := rapid.Float64Range(0.0001, 1).Draw(t, "q")
		var a, b Histogram
		for _, v := range vals[:cut] {
			a.Record(v)
		}
		for _, v := range vals[cut:] {
			b.Record(v)
		}
		a.Merge(&b)
		sorted := slices.Clone(vals)
		slices.Sort(sorted)
		rank := max(int(math.Ceil(q*float64(len(vals)))), 1)
		want := sorted[rank-1]
		got := a.Quantile(q)
		if got < want || float64(got-want) > float64(want)/128 {
			t.Fatalf("q%v of %d values = %d, exact %d", q, len(vals), got, want)
		}
		if a.Max() != sorted[len(sorted)-1] || a.Count() != uint64(len(vals)) {
			t.Fatalf("max %d count %d", a.Max(), a.Count())
		}
	})
}
