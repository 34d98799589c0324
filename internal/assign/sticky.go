package assign

import "slices"

// balanceSticky is the target of both sticky and cooperative-sticky: keep
// every partition of prev whose owner is present and still subscribed, then
// give out the rest and balance, moving kept partitions only as balance
// requires (the fewest possible when all members subscribe alike).
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
		s.balanceUniform() // moves only from over- to under-quota members: no cycles
	} else {
		kept := slices.Clone(s.owner)
		s.fill()
		s.balanceGeneral()
		s.uncycle(kept)
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
