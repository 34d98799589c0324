package group

import "time"

// SetPartitions tells the group the current partition count of its topics
// (see Topics); a subscribed topic absent from counts, or at 0, no longer
// exists. A change rebalances (partitions_changed, or topic_deleted when a
// topic disappeared); the partitions that are gone leave their owners at
// once.
func (g *Group) SetPartitions(now time.Time, counts map[string]int32) {
	if g.state == StateDead {
		return
	}
	next := make(map[string]int32)
	for _, t := range g.Topics() {
		if n := counts[t]; n > 0 {
			next[t] = n
		}
	}
	prev := make(map[string]int32)
	for _, t := range g.Topics() {
		if n := g.partitions[t]; n > 0 {
			prev[t] = n
		}
	}
	reason := partitionsReason(prev, next)
	g.partitions = next
	if reason == "" {
		return
	}
	g.releaseGone(prev, next)
	g.rebalance(now, reason)
	g.settle(now)
}
