package client

import (
	"cmp"
	"slices"

	"github.com/abd-ulbasit/goqueue/api"
)

// partState is what a consumer keeps of one partition's messages: the
// offsets handed out and not yet settled, and the acknowledged offsets
// waiting to be sent, as ranges. Per-message map entries cost ~0.4 µs per
// message (insert, delete, growth and GC); offsets arrive mostly in order,
// so appending to sorted slices and extending the last range is nearly free.
type partState struct {
	held     heldOffsets
	acks     spanList // acknowledged, to send
	consumed spanList // under AutoCommit: returned by earlier polls, acked at the next commit
}

// heldOffsets is a set of offsets of one partition, kept as an ascending
// slice. A removed offset stays in place as ^offset (negative, as offsets
// are not) until compaction, so removal is a search and a store, and
// removal in order (the common case) needs no search.
type heldOffsets struct {
	offs []int64
	head int // offs[:head] are removed; offs[head], if any, is present
	live int // offsets present
}

// offsetOf is the offset an entry of heldOffsets.offs stands for.
func offsetOf(x int64) int64 {
	if x < 0 {
		return ^x
	}
	return x
}

// search finds off in offs[head:]: its index, or where it would go.
func (h *heldOffsets) search(off int64) (int, bool) {
	i, found := slices.BinarySearchFunc(h.offs[h.head:], off, func(x, t int64) int {
		return cmp.Compare(offsetOf(x), t)
	})
	return h.head + i, found
}

// add puts off in the set and reports whether it was absent.
func (h *heldOffsets) add(off int64) bool {
	if n := len(h.offs); n == h.head || off > offsetOf(h.offs[n-1]) {
		h.offs = append(h.offs, off)
		h.live++
		return true
	}
	i, found := h.search(off)
	switch {
	case found && h.offs[i] >= 0:
		return false
	case found:
		h.offs[i] = off // a removed entry, present again
	default:
		h.offs = slices.Insert(h.offs, i, off) // a redelivery below later offsets: rare
	}
	h.live++
	return true
}

// remove takes off out of the set and reports whether it was present.
func (h *heldOffsets) remove(off int64) bool {
	i := h.head
	if i >= len(h.offs) || h.offs[i] != off {
		var found bool
		if i, found = h.search(off); !found || h.offs[i] < 0 {
			return false
		}
	}
	h.offs[i] = ^off
	h.live--
	if h.live == 0 {
		h.offs, h.head = h.offs[:0], 0
		return true
	}
	for h.offs[h.head] < 0 {
		h.head++ // stops at a present entry: live > 0
	}
	// Removed entries past head (out-of-order settles) are squeezed out once
	// they outnumber the present ones: amortised constant time, and memory
	// bounded by about twice what is held.
	if dead := len(h.offs) - h.live; dead > 64 && dead > h.live {
		w := 0
		for _, x := range h.offs[h.head:] {
			if x >= 0 {
				h.offs[w] = x
				w++
			}
		}
		h.offs, h.head = h.offs[:w], 0
	}
	return true
}

// each calls f with every offset present, in ascending order.
func (h *heldOffsets) each(f func(off int64)) {
	for _, x := range h.offs[h.head:] {
		if x >= 0 {
			f(x)
		}
	}
}

// clear empties the set.
func (h *heldOffsets) clear() { *h = heldOffsets{} }

// span is the offsets [from, to).
type span struct{ from, to int64 }

// spanList is a set of offsets as ascending, disjoint, non-adjacent spans.
type spanList []span

// count is how many offsets the set holds.
func (l spanList) count() int64 {
	var n int64
	for _, sp := range l {
		n += sp.to - sp.from
	}
	return n
}

// add puts the offsets [from, to) in the set.
func (l *spanList) add(from, to int64) {
	s := *l
	n := len(s)
	switch {
	case from >= to:
		return
	case n == 0 || from > s[n-1].to:
		*l = append(s, span{from, to}) // the common case: a later offset
		return
	case from >= s[n-1].from:
		s[n-1].to = max(s[n-1].to, to) // the common case: the next offset
		return
	}
	// i: the first span that ends at or after from; j: the first past i
	// that starts after to. s[i:j] touch [from, to) and merge with it.
	i, _ := slices.BinarySearchFunc(s, from, func(x span, t int64) int { return cmp.Compare(x.to, t) })
	j := i
	for j < n && s[j].from <= to {
		j++
	}
	if i == j {
		*l = slices.Insert(s, i, span{from, to})
		return
	}
	*l = slices.Replace(s, i, j, span{min(s[i].from, from), max(s[j-1].to, to)})
}

// takeAcksLocked removes the queued acknowledgements, with consumed also
// what AutoCommit counts as processed, and returns them as ranges ordered by
// topic, partition and offset.
func (s *memberState) takeAcksLocked(consumed bool) []api.OffsetRange {
	var keys []tp
	for k, p := range s.parts {
		if consumed && len(p.consumed) > 0 {
			for _, sp := range p.consumed {
				p.acks.add(sp.from, sp.to)
			}
			p.consumed = p.consumed[:0]
		}
		if len(p.acks) > 0 {
			keys = append(keys, k)
		}
	}
	if consumed {
		s.consumedN = 0
	}
	s.ackedN = 0
	slices.SortFunc(keys, compareTP)
	var out []api.OffsetRange
	for _, k := range keys {
		p := s.parts[k]
		for _, sp := range p.acks {
			out = append(out, api.OffsetRange{Topic: k.topic, Partition: k.partition, From: sp.from, To: sp.to})
		}
		p.acks = p.acks[:0]
	}
	return out
}

// requeueAcksLocked puts back acknowledgements that could not be sent.
func (s *memberState) requeueAcksLocked(ranges []api.OffsetRange) {
	for _, r := range ranges {
		s.partLocked(tp{r.Topic, r.Partition}).acks.add(r.From, r.To)
		s.ackedN += int(r.To - r.From)
	}
}

func compareTP(a, b tp) int {
	if c := cmp.Compare(a.topic, b.topic); c != 0 {
		return c
	}
	return cmp.Compare(a.partition, b.partition)
}

// nextRequest splits one request's worth off ranges: at most
// maxRangesPerRequest ranges naming at most api.MaxRangeMessages messages
// (a range past that is cut in two). It returns the request and the rest;
// it may modify ranges, and req never shares memory with rest.
func nextRequest(ranges []api.OffsetRange) (req, rest []api.OffsetRange) {
	var named int64
	for i, r := range ranges {
		if i == maxRangesPerRequest {
			return slices.Clone(ranges[:i]), ranges[i:]
		}
		room := int64(api.MaxRangeMessages) - named
		if n := r.To - r.From; n > room {
			req = slices.Clone(ranges[:i])
			if room > 0 {
				cut := r
				cut.To = r.From + room
				req = append(req, cut)
				ranges[i].From += room
			}
			return req, ranges[i:]
		}
		named += r.To - r.From
	}
	return ranges, nil
}
