package history

// value is what a ring holds: group lags need 64 bits; partition lags are
// clamped to 32 (a chart loses nothing; memory is halved).
type value interface{ ~int64 | ~uint32 }

// ring holds the values of one series at consecutive sequence numbers
// (ticks, or coarse buckets of ticks), the newest cap of them. A sequence
// number with no value (the series was absent at that tick) holds none,
// the type's largest value. Not safe for concurrent use; Lag guards it.
type ring[T value] struct {
	vals []T   // len == cap; vals[seq % cap]
	last int64 // sequence number of the newest value; -1 before the first
	n    int   // how many of vals are in use, up to len(vals)
	none T     // immutable
}

// newRing returns an empty ring of capacity values where none marks a
// sequence number without a value (never stored as a real value: callers
// clamp below it).
func newRing[T value](capacity int, none T) *ring[T] {
	return &ring[T]{vals: make([]T, capacity), last: -1, none: none}
}

func (r *ring[T]) slot(seq int64) *T { return &r.vals[seq%int64(len(r.vals))] }

// put stores v at seq. A seq equal to the newest keeps the larger value
// (coarse buckets keep the peak of their ticks); a later one first marks
// the skipped numbers as empty. An older seq is ignored.
func (r *ring[T]) put(seq int64, v T) {
	switch {
	case r.last < 0:
		r.last, r.n = seq, 1
		*r.slot(seq) = v
		return
	case seq < r.last:
		return
	case seq == r.last:
		if s := r.slot(seq); *s == r.none || v > *s {
			*s = v
		}
		return
	}
	gap := seq - r.last - 1
	if gap >= int64(len(r.vals)) {
		gap, r.n = 0, 0 // nothing held survives: start afresh
	}
	for s := seq - gap; s < seq; s++ {
		*r.slot(s) = r.none
	}
	r.n = min(r.n+int(gap)+1, len(r.vals))
	r.last = seq
	*r.slot(seq) = v
}

// oldest returns the oldest sequence number the ring still holds, or -1.
func (r *ring[T]) oldest() int64 {
	if r.last < 0 {
		return -1
	}
	return r.last - int64(r.n) + 1
}

// get returns the value at seq, if the ring holds one.
func (r *ring[T]) get(seq int64) (T, bool) {
	if r.last < 0 || seq > r.last || seq < r.oldest() {
		return 0, false
	}
	v := *r.slot(seq)
	return v, v != r.none
}
