package group

import (
	"slices"
	"time"
)

// SetPartitions tells the group the current partition count of its topics
// (see Topics), of every topic when a member subscribes by regex (its
// topics become those the regex matches now); a subscribed topic absent
// from counts, or at 0, no longer exists. A change rebalances (partitions_changed, or topic_deleted when a
// topic disappeared); the partitions that are gone leave their owners at
// once.
func (g *Group) SetPartitions(now time.Time, counts map[string]int32) {
	if g.state == StateDead {
		return
	}
	prev := make(map[string]int32)
	for _, t := range g.Topics() {
		if n := g.partitions[t]; n > 0 {
			prev[t] = n
		}
	}
	resubscribed := false
	for _, id := range g.memberIDs() {
		if m := g.members[id]; m.matches != nil {
			if ts := matching(m.matches, counts); !slices.Equal(ts, m.topics) {
				m.topics, resubscribed = ts, true
			}
		}
	}
	next := make(map[string]int32)
	for _, t := range g.Topics() {
		if n := counts[t]; n > 0 {
			next[t] = n
		}
	}
	reason := partitionsReason(prev, next)
	if reason == "" && resubscribed {
		reason = ReasonSubscriptionChanged
	}
	g.partitions = next
	if reason == "" {
		return
	}
	g.releaseGone(prev, next)
	g.rebalance(now, reason)
	g.settle(now)
}
