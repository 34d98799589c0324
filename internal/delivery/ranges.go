package delivery

import (
	"math"
	"slices"
	"sort"
)

// Range is the half-open run of offsets [From, To).
type Range struct {
	From, To int64
}

// rangeSet is a set of offsets kept as sorted, disjoint, non-adjacent
// ranges. Acknowledgements arrive mostly in order, so it stays short.
type rangeSet struct {
	rs []Range // sorted by From; rs[i].To < rs[i+1].From
}

// search returns the index of the first range with To >= off.
func (s *rangeSet) search(off int64) int {
	return sort.Search(len(s.rs), func(i int) bool { return s.rs[i].To >= off })
}

func (s *rangeSet) contains(off int64) bool {
	i := s.search(off)
	return i < len(s.rs) && s.rs[i].From <= off && off < s.rs[i].To
}

// add inserts off and reports whether it was absent.
func (s *rangeSet) add(off int64) bool {
	i := s.search(off)
	switch {
	case i == len(s.rs):
		s.rs = append(s.rs, Range{off, off + 1})
	case s.rs[i].From <= off && off < s.rs[i].To:
		return false
	case s.rs[i].To == off:
		s.rs[i].To++
		if i+1 < len(s.rs) && s.rs[i+1].From == off+1 {
			s.rs[i].To = s.rs[i+1].To
			s.rs = slices.Delete(s.rs, i+1, i+2)
		}
	case s.rs[i].From == off+1:
		s.rs[i].From = off
	default:
		s.rs = slices.Insert(s.rs, i, Range{off, off + 1})
	}
	return true
}

// addRange inserts every offset of [from, to), none of which is in the
// set, merging with the ranges it touches.
func (s *rangeSet) addRange(from, to int64) {
	i := s.search(from) // the first range with To >= from: the only one that can end at from
	switch {
	case i < len(s.rs) && s.rs[i].To == from:
		s.rs[i].To = to
		if i+1 < len(s.rs) && s.rs[i+1].From == to {
			s.rs[i].To = s.rs[i+1].To
			s.rs = slices.Delete(s.rs, i+1, i+2)
		}
	case i < len(s.rs) && s.rs[i].From == to:
		s.rs[i].From = from
	default:
		s.rs = slices.Insert(s.rs, i, Range{from, to})
	}
}

// from returns the first offset >= off in the set, or math.MaxInt64 if
// there is none.
func (s *rangeSet) from(off int64) int64 {
	i := s.search(off + 1) // the first range with To > off
	switch {
	case i == len(s.rs):
		return math.MaxInt64
	case s.rs[i].From <= off:
		return off
	}
	return s.rs[i].From
}

// after returns the first offset >= off that is not in the set.
func (s *rangeSet) after(off int64) int64 {
	if len(s.rs) == 0 {
		return off
	}
	i := s.search(off)
	if i < len(s.rs) && s.rs[i].From <= off && off < s.rs[i].To {
		return s.rs[i].To
	}
	return off
}

// advance removes every offset below c and, if c is then in the set, the run
// starting at c; it returns the first offset >= c not in the set.
func (s *rangeSet) advance(c int64) int64 {
	n := 0
	for n < len(s.rs) && s.rs[n].To <= c {
		n++
	}
	if n < len(s.rs) && s.rs[n].From <= c {
		c = s.rs[n].To
		n++
	}
	if n > 0 {
		s.rs = slices.Delete(s.rs, 0, n)
	}
	return c
}

// count returns the number of offsets in the set.
func (s *rangeSet) count() int64 {
	var n int64
	for _, r := range s.rs {
		n += r.To - r.From
	}
	return n
}

// ranges returns a copy of the set's ranges.
func (s *rangeSet) ranges() []Range {
	return slices.Clone(s.rs)
}

// newRangeSet builds a set from ranges in any order, ignoring empty ones.
func newRangeSet(rs []Range) rangeSet {
	var s rangeSet
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b Range) int {
		switch {
		case a.From < b.From:
			return -1
		case a.From > b.From:
			return 1
		}
		return 0
	})
	for _, r := range sorted {
		if r.From >= r.To {
			continue
		}
		if n := len(s.rs); n > 0 && r.From <= s.rs[n-1].To {
			s.rs[n-1].To = max(s.rs[n-1].To, r.To)
			continue
		}
		s.rs = append(s.rs, r)
	}
	return s
}
