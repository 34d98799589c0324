package assign

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
)

// balanceSticky is the target of both sticky and cooperative-sticky: keep
// every partition of prev whose owner is present and still subscribed, then
// give out the rest and move as few kept partitions as balance requires.
//
// It is written here instead of running kgo's StickyBalancer because kgo's is
// not deterministic: it numbers partitions by ranging over the topics map, so
// with two or more topics equal inputs give different plans (45 of 50 runs
// of one 5-member, 4-topic input differed from the first). The group
// computes the same target on every heartbeat round and on failover, so a
// target that changes without cause would move partitions without cause.
func balanceSticky(in input, prev Plan) Plan {
	s := newSticky(in)
	s.keep(prev)
	if s.uniform() {
		s.balanceUniform()
	} else {
		s.fill()
		s.balanceGeneral()
	}
	return s.plan()
}

// sticky is one sticky balance in flight. Partitions are numbered flat:
// topic i (in sorted order) owns numbers base[i] to base[i]+count-1.
type sticky struct {
	in       input
	base     []int32    // topic index → first flat partition number
	topicOf  []int32    // flat partition → topic index
	subs     [][]int32  // topic index → subscribed member indices, ascending
	subBits  [][]uint64 // member index → bitset of subscribed topic indices
	topicsOf [][]int32  // member index → subscribed topic indices, ascending
	held     [][]int32  // member index → per topicsOf entry, partitions of that topic owned
	owner    []int32    // flat partition → member index, or -1 while unowned
	owned    [][]int32  // member index → flat partitions it owns, unordered
}

func newSticky(in input) *sticky {
	s := &sticky{
		in:       in,
		base:     make([]int32, len(in.topics)),
		subs:     make([][]int32, len(in.topics)),
		subBits:  make([][]uint64, len(in.members)),
		topicsOf: make([][]int32, len(in.members)),
		held:     make([][]int32, len(in.members)),
		owned:    make([][]int32, len(in.members)),
	}
	topicIdx := make(map[string]int32, len(in.topics))
	var n int32
	for i, t := range in.topics {
		topicIdx[t] = int32(i)
		s.base[i] = n
		n += in.counts[t]
	}
	s.topicOf = make([]int32, n)
	s.owner = make([]int32, n)
	for i, t := range in.topics {
		for p := range in.counts[t] {
			s.topicOf[s.base[i]+p] = int32(i)
		}
	}
	for f := range s.owner {
		s.owner[f] = -1
	}
	words := (len(in.topics) + 63) / 64
	for mi, m := range in.members {
		s.subBits[mi] = make([]uint64, words)
		for _, t := range m.Topics {
			ti := topicIdx[t]
			s.subBits[mi][ti/64] |= 1 << (ti % 64)
			s.subs[ti] = append(s.subs[ti], int32(mi))
			s.topicsOf[mi] = append(s.topicsOf[mi], ti)
		}
		s.held[mi] = make([]int32, len(s.topicsOf[mi]))
	}
	return s
}

func (s *sticky) subscribes(member, topic int32) bool {
	return s.subBits[member][topic/64]&(1<<(topic%64)) != 0
}

// flat returns the flat number of topic's partition p, or -1 if the topic
// does not exist or has no such partition.
func (s *sticky) flat(topic string, p int32) (f, ti int32) {
	i, ok := slices.BinarySearch(s.in.topics, topic)
	if !ok || p < 0 || p >= s.in.counts[topic] {
		return -1, -1
	}
	return s.base[i] + p, int32(i)
}

// keep seeds the plan with prev. A partition claimed by two members in prev
// stays with the first by member ID; the other claim is dropped.
func (s *sticky) keep(prev Plan) {
	for mi, m := range s.in.members {
		for topic, parts := range prev[m.ID] {
			for _, p := range parts {
				f, ti := s.flat(topic, p)
				if f < 0 || !s.subscribes(int32(mi), ti) || s.owner[f] >= 0 {
					continue
				}
				s.assign(f, int32(mi))
			}
		}
	}
}

// assign gives unowned partition f to member, which subscribes to its topic.
func (s *sticky) assign(f, member int32) {
	s.owner[f] = member
	s.owned[member] = append(s.owned[member], f)
	s.held[member][s.slot(member, s.topicOf[f])]++
}

// release makes partition f, owned by member, unowned; the caller removes
// it from s.owned[member].
func (s *sticky) release(f, member int32) {
	s.owner[f] = -1
	s.held[member][s.slot(member, s.topicOf[f])]--
}

// slot returns the position of topic in member's topicsOf.
func (s *sticky) slot(member, topic int32) int {
	i, _ := slices.BinarySearch(s.topicsOf[member], topic)
	return i
}

// uniform reports whether every member subscribes to every topic in play,
// the common case that balanceUniform solves exactly.
func (s *sticky) uniform() bool {
	for _, sub := range s.subs {
		if len(sub) != len(s.in.members) {
			return false
		}
	}
	return true
}

// balanceUniform gives every member a quota of ⌊P/M⌋ or ⌈P/M⌉, the larger
// quotas going to the members that kept the most (ties by ID), so the number
// of kept partitions that move, Σ max(0, kept−quota), is the least possible.
// Excess partitions are released highest partition number first (then
// topic), so a member sheds load evenly across its topics.
func (s *sticky) balanceUniform() {
	m := len(s.in.members)
	if m == 0 || len(s.owner) == 0 {
		return
	}
	total := len(s.owner)
	base, extra := total/m, total%m
	order := make([]int32, m)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int {
		return cmp.Compare(len(s.owned[b]), len(s.owned[a]))
	})
	quota := make([]int, m)
	for rank, mi := range order {
		quota[mi] = base
		if rank < extra {
			quota[mi]++
		}
	}
	for mi := range s.owned {
		if over := len(s.owned[mi]) - quota[mi]; over > 0 {
			s.sortForRelease(s.owned[mi])
			keep := len(s.owned[mi]) - over
			for _, f := range s.owned[mi][keep:] {
				s.release(f, int32(mi))
			}
			s.owned[mi] = s.owned[mi][:keep]
		}
	}
	// Hand out the unowned partitions in flat order, cycling through the
	// members below quota so that a new member gets a spread of topics.
	next := 0
	for f, o := range s.owner {
		if o >= 0 {
			continue
		}
		for len(s.owned[next]) >= quota[next] {
			next = (next + 1) % m
		}
		s.assign(int32(f), int32(next))
		next = (next + 1) % m
	}
}

// sortForRelease orders parts so that the ones to release come last: by
// partition number within the topic, then by topic.
func (s *sticky) sortForRelease(parts []int32) {
	slices.SortFunc(parts, func(a, b int32) int {
		pa, pb := a-s.base[s.topicOf[a]], b-s.base[s.topicOf[b]]
		if c := cmp.Compare(pa, pb); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
}

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
	// least loaded subscriber has two or fewer partitions less.
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

// move gives partition f, owned by from, to member to.
func (s *sticky) move(f, from, to int32) {
	s.owned[from] = slices.DeleteFunc(s.owned[from], func(g int32) bool { return g == f })
	s.release(f, from)
	s.assign(f, to)
}

// plan converts the flat assignment into a Plan.
func (s *sticky) plan() Plan {
	p := s.in.emptyPlan()
	for f, mi := range s.owner {
		if mi < 0 {
			continue
		}
		ti := s.topicOf[f]
		topic := s.in.topics[ti]
		dst := p[s.in.members[mi].ID]
		dst[topic] = append(dst[topic], int32(f)-s.base[ti])
	}
	return p
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
func (h *loadHeap) Push(x any)   { h.members = append(h.members, x.(int32)) }
func (h *loadHeap) Pop() any {
	x := h.members[len(h.members)-1]
	h.members = h.members[:len(h.members)-1]
	return x
}
