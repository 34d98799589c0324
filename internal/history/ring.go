package history

// value is what a ring holds: group lags need 64 bits; partition lags are
// clamped to 32 (a chart loses nothing; memory is halved).
type value interface{ ~int64 | ~uint32 }

// ring holds the values of one series at consecutive sequence numbers
// (ticks, or coarse buckets of ticks), the newest size of them. A sequence
// number with no value (the series was absent at that tick) holds none,
// the type's largest value. Its memory grows with the values put, up to
// size: allocated whole at a group's first sample, a day of ticks cost a
// group about 100 KB at once, and a broker that saw 300 short-lived
// groups held 30 MB of mostly empty rings for a day. Not safe for
// concurrent use; Lag guards it.
type ring[T value] struct {
	vals  []T   // vals[(seq-first) % size]; grows to size as values come
	size  int   // the most values held; immutable
	first int64 // the sequence number at vals[0]
	last  int64 // sequence number of the newest value; -1 before the first
	n     int   // how many values are held, up to size
	none  T     // immutable
}

// newRing returns an empty ring of size values where none marks a
// sequence number without a value (never stored as a real value: callers
// clamp below it).
func newRing[T value](size int, none T) *ring[T] {
	return &ring[T]{size: size, last: -1, none: none}
}

// slot is seq's place. Values come in sequence, so a ring still growing
// meets a new seq at the end of vals: it grows by doubling, never past
// size.
func (r *ring[T]) slot(seq int64) *T {
	i := int((seq - r.first) % int64(r.size))
	if i == len(r.vals) {
		if i == cap(r.vals) {
			grown := make([]T, i, min(max(2*i, 16), r.size))
			copy(grown, r.vals)
			r.vals = grown
		}
		r.vals = r.vals[:i+1]
	}
	return &r.vals[i]
}

// put stores v at seq. A seq equal to the newest keeps the larger value
// (coarse buckets keep the peak of their ticks); a later one first marks
// the skipped numbers as empty. An older seq is ignored.
func (r *ring[T]) put(seq int64, v T) {
	switch {
	case r.last < 0:
		r.first, r.last, r.n = seq, seq, 1
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
	if gap >= int64(r.size) {
		// Nothing held survives: start afresh (keeping the memory).
		gap, r.n, r.first, r.vals = 0, 0, seq, r.vals[:0]
	}
	for s := seq - gap; s < seq; s++ {
		*r.slot(s) = r.none
	}
	r.n = min(r.n+int(gap)+1, r.size)
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
