package group

import (
	"cmp"
	"slices"

	"github.com/abd-ulbasit/goqueue/api"
)

// tp names one partition of one topic.
type tp struct {
	topic string
	part  int32
}

func (a tp) compare(b tp) int {
	if c := cmp.Compare(a.topic, b.topic); c != 0 {
		return c
	}
	return cmp.Compare(a.part, b.part)
}

// parts is a set of partitions. The nil set is empty and may be read.
type parts map[tp]struct{}

func (s parts) has(p tp) bool { _, ok := s[p]; return ok }

// equal reports whether s and o hold the same partitions.
func (s parts) equal(o parts) bool {
	if len(s) != len(o) {
		return false
	}
	for p := range s {
		if !o.has(p) {
			return false
		}
	}
	return true
}

// sorted lists s by topic, then partition.
func (s parts) sorted() []tp {
	out := make([]tp, 0, len(s))
	for p := range s {
		out = append(out, p)
	}
	slices.SortFunc(out, tp.compare)
	return out
}

// assignment renders s on the wire; an empty set is an empty, non-nil map so
// that it marshals as {}.
func (s parts) assignment() api.Assignment {
	a := make(api.Assignment)
	for p := range s {
		a[p.topic] = append(a[p.topic], p.part)
	}
	for _, ps := range a {
		slices.Sort(ps)
	}
	return a
}

// without returns the partitions of s not in o, or nil.
func (s parts) without(o parts) parts {
	var out parts
	for p := range s {
		if !o.has(p) {
			if out == nil {
				out = make(parts)
			}
			out[p] = struct{}{}
		}
	}
	return out
}

// fromAssignment turns a wire assignment into a set.
func fromAssignment(a api.Assignment) parts {
	s := make(parts)
	for t, ps := range a {
		for _, p := range ps {
			s[tp{t, p}] = struct{}{}
		}
	}
	return s
}
