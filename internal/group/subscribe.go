package group

import (
	"maps"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// Subscribe changes what a live member subscribes to, in place: KIP-848's
// heartbeat naming new SubscribedTopicNames, which (unlike a join at epoch
// 0) is no new incarnation. The group rebalances (subscription_changed);
// the member keeps what it owns until the new target revokes it, as any
// member does in a rebalance, so a partition of a topic it still
// subscribes to is not released for nothing. Its new assignment is
// answered by its next heartbeat, which the caller sends at once: what is
// granted before the member hears of it would be released by the owned
// partitions that heartbeat reports. partitions is as for Join: a
// topic absent or at 0 does not exist yet and is assigned once
// SetPartitions says it does. The same subscription again changes
// nothing. generation is checked as Heartbeat checks it.
//
// Errors: those of Heartbeat, INVALID_ARGUMENT (no topic, an empty name).
func (g *Group) Subscribe(now time.Time, memberID string, generation int64, topics []string, partitions map[string]int32) error {
	m, err := g.caller(memberID, generation)
	if err != nil {
		return err
	}
	if len(topics) == 0 {
		return api.ErrInvalidArgument.Withf("a subscription needs at least one topic")
	}
	if slices.Contains(topics, "") {
		return api.ErrInvalidArgument.Withf("empty topic name")
	}
	topics = sortedTopics(topics)
	m.lastSeen = now
	if slices.Equal(m.topics, topics) {
		return nil
	}
	next := maps.Clone(g.partitions)
	for _, t := range topics {
		if n := partitions[t]; n > 0 {
			next[t] = n
		} else {
			delete(next, t)
		}
	}
	prev := g.partitions
	m.topics, g.partitions = topics, next
	g.releaseGone(prev, next)
	g.rebalance(now, ReasonSubscriptionChanged)
	g.settle(now)
	return nil
}
