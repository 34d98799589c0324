package bench

import (
	"math"
	"math/bits"
)

// subBits sets the histogram's precision: every power of two is split into
// 2^subBits linear sub-buckets, so a recorded value is known to within
// 1/2^subBits (0.8%) of itself, and values below 2^subBits exactly.
const subBits = 7

// numBuckets covers every non-negative int64.
const numBuckets = (64 - subBits) << subBits

// Histogram is a log-linear histogram of non-negative integers (latencies
// in nanoseconds here), in the manner of HdrHistogram: constant memory,
// constant-time Record, quantiles within 1/128 of the true value. It is not
// safe for concurrent use: give each goroutine its own and Merge them.
type Histogram struct {
	counts [numBuckets]uint64
	n      uint64
	min    int64
	max    int64
}

// bucketOf returns the index of v's bucket; v ≥ 0. Below 2^subBits a
// bucket holds one value; above, v's top subBits+1 bits pick the bucket
// within its power of two.
func bucketOf(v int64) int {
	u := uint64(v)
	if u < 1<<subBits {
		return int(u)
	}
	shift := bits.Len64(u) - subBits - 1
	return shift<<subBits + int(u>>uint(shift))
}

// bucketRange returns the smallest and largest values bucket i holds.
func bucketRange(i int) (lo, hi int64) {
	if i < 1<<subBits {
		return int64(i), int64(i)
	}
	shift := i>>subBits - 1
	m := uint64(i - shift<<subBits)
	lo = int64(m << uint(shift))
	hiU := (m+1)<<uint(shift) - 1
	if hiU > math.MaxInt64 {
		hiU = math.MaxInt64
	}
	return lo, int64(hiU)
}

// Record adds one value; a negative value counts as 0.
func (h *Histogram) Record(v int64) {
	v = max(v, 0)
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.n++
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest value recorded, exactly (0 when empty).
func (h *Histogram) Max() int64 { return h.max }

// Quantile returns the value at quantile q (0 < q ≤ 1): the largest value
// of the bucket holding the ⌈q·n⌉-th smallest recorded value, never above
// the recorded maximum. So it errs high, by at most 1/128. 0 when empty.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketRange(i)
			return min(max(hi, h.min), h.max)
		}
	}
	return h.max
}
