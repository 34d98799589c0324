package client

import (
	"slices"

	"github.com/abd-ulbasit/goqueue/api"
)

// addTo adds k to a, allocating a if nil.
func addTo(a api.Assignment, k tp) api.Assignment {
	if a == nil {
		a = make(api.Assignment)
	}
	a[k.topic] = append(a[k.topic], k.partition)
	return a
}

// sortAssignment sorts each topic's partitions, as the wire wants.
func sortAssignment(a api.Assignment) {
	for _, ps := range a {
		slices.Sort(ps)
	}
}

// partsOf lists a's partitions.
func partsOf(a api.Assignment) []tp {
	var out []tp
	for topic, ps := range a {
		for _, p := range ps {
			out = append(out, tp{topic, p})
		}
	}
	return out
}

// assignmentOf is parts as an Assignment.
func assignmentOf(parts []tp) api.Assignment {
	var a api.Assignment
	for _, k := range parts {
		a = addTo(a, k)
	}
	sortAssignment(a)
	return a
}
