package assign

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
)

// fill gives every unowned partition to its topic's least loaded subscriber
// (ties by ID). Topics with fewer subscribers go first, since they have
// fewer places to go.
func (s *sticky) fill() {
	topics := make([]int32, len(s.in.topics))
	for i := range topics {
		topics[i] = int32(i)
	}
	slices.SortStableFunc(topics, func(a, b int32) int {
		return cmp.Compare(len(s.subs[a]), len(s.subs[b]))
	})
	for _, ti := range topics {
		if len(s.subs[ti]) == 0 {
			continue
		}
		h := loadHeap{members: slices.Clone(s.subs[ti]), owned: s.owned}
		heap.Init(&h)
		for f := s.base[ti]; f < s.base[ti]+s.in.counts[s.in.topics[ti]]; f++ {
			if s.owner[f] >= 0 {
				continue
			}
			s.assign(f, h.members[0])
			heap.Fix(&h, 0)
		}
	}
}

// balanceGeneral balances a group whose members subscribe differently. It
// first moves single partitions from the most loaded member that can give
// one to a subscriber with two or more fewer (cheap, and the fewest moves),
// then shifts partitions along chains (see shift) until no chain is left.
// Each step lowers Σ load² by at least two, so the loops end. At the end no
// cost-reducing path exists, which makes the plan an optimal semi-matching
// (Harvey, Ladner, Lovász, Tamir, "Semi-matchings for bipartite graphs and
// load balancing", 2006): it minimises the largest load and Σ load², and its
// sorted loads are the same as every other optimal plan's.
func (s *sticky) balanceGeneral() {
	m := len(s.in.members)
	order := make([]int32, m)
	byLoad := func() {
		for i := range order {
			order[i] = int32(i)
		}
		slices.SortStableFunc(order, func(a, b int32) int {
			return cmp.Compare(len(s.owned[a]), len(s.owned[b]))
		})
	}
	// Single moves, always from the most loaded member that can give (ties
	// by ID): a donor can give if it holds a partition of a topic whose
	// least loaded subscriber has at least two partitions fewer.
	minLoad := make([]int, len(s.in.topics))
	for {
		for ti, sub := range s.subs {
			minLoad[ti] = math.MaxInt
			for _, mi := range sub {
				minLoad[ti] = min(minLoad[ti], len(s.owned[mi]))
			}
		}
		donor, donorLoad := int32(-1), -1
		for mi := range s.owned {
			load := len(s.owned[mi])
			if load <= donorLoad {
				continue
			}
			for k, ti := range s.topicsOf[mi] {
				if s.held[mi][k] > 0 && minLoad[ti] <= load-2 {
					donor, donorLoad = int32(mi), load
					break
				}
			}
		}
		if donor < 0 || !s.give(donor) {
			break
		}
	}
	c := newChains(s)
	for {
		byLoad()
		moved := false
		clear(c.dead)
		for _, taker := range order {
			if !c.dead[taker] && c.shift(taker) {
				moved = true
				break
			}
		}
		if !moved {
			return
		}
	}
}

// give moves one partition from donor to the least loaded subscriber of one
// of donor's topics, if that subscriber has at least two partitions fewer.
// Among donor's partitions of that topic it gives the one released first by
// sortForRelease.
func (s *sticky) give(donor int32) bool {
	load := len(s.owned[donor])
	bestTopic, bestTaker, bestLoad := int32(-1), int32(-1), 0
	for k, ti := range s.topicsOf[donor] {
		if s.held[donor][k] == 0 {
			continue
		}
		for _, mi := range s.subs[ti] {
			l := len(s.owned[mi])
			if l > load-2 {
				continue
			}
			if bestTaker < 0 || l < bestLoad || l == bestLoad && (ti < bestTopic || ti == bestTopic && mi < bestTaker) {
				bestTopic, bestTaker, bestLoad = ti, mi, l
			}
		}
	}
	if bestTaker < 0 {
		return false
	}
	var give int32 = -1
	for _, f := range s.owned[donor] {
		if s.topicOf[f] == bestTopic && (give < 0 || f > give) {
			give = f
		}
	}
	s.move(give, donor, bestTaker)
	return true
}

// loadHeap orders member indices by how many partitions they own, then by
// index (ID order).
type loadHeap struct {
	members []int32
	owned   [][]int32
}

func (h loadHeap) Len() int { return len(h.members) }

func (h loadHeap) Less(i, j int) bool {
	a, b := h.members[i], h.members[j]
	la, lb := len(h.owned[a]), len(h.owned[b])
	return la < lb || (la == lb && a < b)
}

func (h loadHeap) Swap(i, j int) { h.members[i], h.members[j] = h.members[j], h.members[i] }

func (h *loadHeap) Push(x any) { h.members = append(h.members, x.(int32)) }

func (h *loadHeap) Pop() any {
	x := h.members[len(h.members)-1]
	h.members = h.members[:len(h.members)-1]
	return x
}
