package assign

import (
	"fmt"
	"slices"
	"sort"
)

// This file holds the checks the tests share. Each returns a description of
// the first violation, or "" if the property holds, so that table, property
// and fuzz-style tests report the same way.

// subscribers returns, per existing topic, the IDs of the members that
// subscribe to it, sorted.
func subscribers(members []Member, partitions map[string]int32) map[string][]string {
	subs := make(map[string][]string)
	for _, m := range members {
		seen := make(map[string]bool)
		for _, t := range m.Topics {
			if partitions[t] > 0 && !seen[t] {
				seen[t] = true
				subs[t] = append(subs[t], m.ID)
			}
		}
	}
	for t := range subs {
		sort.Strings(subs[t])
	}
	return subs
}

// checkValid: an entry for every member and no one else; a member holds only
// non-empty, strictly ascending lists of existing partitions of topics it
// subscribes to.
func checkValid(members []Member, partitions map[string]int32, p Plan) string {
	if len(p) != len(members) {
		return fmt.Sprintf("plan has %d entries for %d members", len(p), len(members))
	}
	for _, m := range members {
		a, ok := p[m.ID]
		if !ok || a == nil {
			return fmt.Sprintf("no entry for member %q", m.ID)
		}
		for topic, parts := range a {
			if !slices.Contains(m.Topics, topic) {
				return fmt.Sprintf("%s holds unsubscribed topic %q", m.ID, topic)
			}
			if len(parts) == 0 {
				return fmt.Sprintf("%s has an empty list for %q", m.ID, topic)
			}
			for i, x := range parts {
				if x < 0 || x >= partitions[topic] {
					return fmt.Sprintf("%s holds %s/%d, which does not exist", m.ID, topic, x)
				}
				if i > 0 && parts[i-1] >= x {
					return fmt.Sprintf("%s/%s partitions not strictly ascending: %v", m.ID, topic, parts)
				}
			}
		}
	}
	return ""
}

// owners returns topic → partition → owner, reporting a partition held twice.
func owners(p Plan) (map[string]map[int32]string, string) {
	own := make(map[string]map[int32]string)
	for _, id := range sortedIDs(p) {
		for topic, parts := range p[id] {
			if own[topic] == nil {
				own[topic] = make(map[int32]string)
			}
			for _, x := range parts {
				if prev, dup := own[topic][x]; dup {
					return nil, fmt.Sprintf("%s/%d held by %s and %s", topic, x, prev, id)
				}
				own[topic][x] = id
			}
		}
	}
	return own, ""
}

// checkExclusiveComplete: no partition twice, and every partition of every
// topic someone subscribes to is held.
func checkExclusiveComplete(members []Member, partitions map[string]int32, p Plan) string {
	own, bad := owners(p)
	if bad != "" {
		return bad
	}
	for topic := range subscribers(members, partitions) {
		if got := len(own[topic]); got != int(partitions[topic]) {
			return fmt.Sprintf("topic %s: %d of %d partitions assigned", topic, got, partitions[topic])
		}
	}
	return ""
}

func sortedIDs(p Plan) []string {
	ids := make([]string, 0, len(p))
	for id := range p {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// loads returns member ID → number of partitions held.
func loads(p Plan) map[string]int {
	l := make(map[string]int, len(p))
	for id, a := range p {
		l[id] = 0 // idle members count too
		for _, parts := range a {
			l[id] += len(parts)
		}
	}
	return l
}

// checkSpread: member totals differ by at most one.
func checkSpread(p Plan) string {
	lo, hi := -1, -1
	for _, n := range loads(p) {
		if lo < 0 || n < lo {
			lo = n
		}
		if n > hi {
			hi = n
		}
	}
	if hi-lo > 1 {
		return fmt.Sprintf("loads range from %d to %d", lo, hi)
	}
	return ""
}

// checkRange: per topic, the subscribers sorted by ID hold consecutive,
// contiguous ranges in ID order whose sizes are ⌈n/k⌉ for the first n mod k
// and ⌊n/k⌋ for the rest — Kafka's RangeAssignor.
func checkRange(members []Member, partitions map[string]int32, p Plan) string {
	for topic, subs := range subscribers(members, partitions) {
		n, k := int(partitions[topic]), len(subs)
		next := int32(0)
		for i, id := range subs {
			size := n / k
			if i < n%k {
				size++
			}
			got := p[id][topic]
			if len(got) != size {
				return fmt.Sprintf("%s: %s holds %d partitions, want %d", topic, id, len(got), size)
			}
			for _, x := range got {
				if x != next {
					return fmt.Sprintf("%s: %s holds %v, want a range from %d", topic, id, got, next-int32(slices.Index(got, x)))
				}
				next++
			}
		}
	}
	return ""
}

// checkOptimal: there is no cost-reducing path — no chain in which a member
// takes a partition of a topic it subscribes to from its owner, who takes one
// from the next, and so on, ending at a member with two or more partitions
// more than the first. Without one the loads are an optimal semi-matching.
// This is an independent search (member-level BFS over the plan), not the
// balancer's own.
func checkOptimal(members []Member, partitions map[string]int32, p Plan) string {
	own, bad := owners(p)
	if bad != "" {
		return bad
	}
	load := loads(p)
	subs := subscribers(members, partitions)
	topicsOf := make(map[string][]string)
	for topic, ids := range subs {
		for _, id := range ids {
			topicsOf[id] = append(topicsOf[id], topic)
		}
	}
	for _, m := range members {
		seen := map[string]bool{m.ID: true}
		expanded := make(map[string]bool)
		queue := []string{m.ID}
		for len(queue) > 0 {
			y := queue[0]
			queue = queue[1:]
			for _, topic := range topicsOf[y] {
				if expanded[topic] {
					continue
				}
				expanded[topic] = true
				for _, o := range own[topic] {
					if seen[o] {
						continue
					}
					if load[o] >= load[m.ID]+2 {
						return fmt.Sprintf("cost-reducing path from %s (load %d) to %s (load %d)", m.ID, load[m.ID], o, load[o])
					}
					seen[o] = true
					queue = append(queue, o)
				}
			}
		}
	}
	return ""
}

// sortedLoads returns the members' loads in ascending order.
func sortedLoads(p Plan) []int {
	var out []int
	for _, n := range loads(p) {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// minimalMoves returns the fewest partitions that must leave their previous
// owner when every member subscribes to every topic: kept[i] partitions of
// prev are still valid for member i, and total partitions exist. The best
// quotas give ⌈total/m⌉ to the members that kept the most.
func minimalMoves(kept []int, total int) int {
	m := len(kept)
	if m == 0 {
		return 0
	}
	k := slices.Clone(kept)
	sort.Sort(sort.Reverse(sort.IntSlice(k)))
	moves := 0
	for i, n := range k {
		q := total / m
		if i < total%m {
			q++
		}
		moves += max(0, n-q)
	}
	return moves
}
