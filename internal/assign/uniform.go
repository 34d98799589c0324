package assign

import (
	"cmp"
	"slices"
)

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
