package broker

import (
	"github.com/abd-ulbasit/goqueue/api"
)

// Limits bound what clients can make the broker hold. Each thing a client
// can create costs memory, files and metric series for as long as it
// lives: 10,000 one-member groups once made /metrics 50 MB and the broker
// 829 MB. Zero fields take DefaultLimits; there is no "unlimited".
type Limits struct {
	// MaxTopics bounds topics created by clients. A topic's DLQ, created
	// by the broker when it first dead-letters, may go past it (up to
	// twice it in all), so that a nack never fails for want of a DLQ.
	MaxTopics int
	// MaxGroups bounds consumer groups (a first join creates one).
	MaxGroups int
	// MaxGroupMembers bounds the members of one group.
	MaxGroupMembers int
}

// DefaultLimits are generous for real deployments and far below what
// hurts a 2-core broker.
func DefaultLimits() Limits {
	return Limits{MaxTopics: 10_000, MaxGroups: 10_000, MaxGroupMembers: 1_000}
}

// withDefaults fills the zero fields of l.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxTopics <= 0 {
		l.MaxTopics = d.MaxTopics
	}
	if l.MaxGroups <= 0 {
		l.MaxGroups = d.MaxGroups
	}
	if l.MaxGroupMembers <= 0 {
		l.MaxGroupMembers = d.MaxGroupMembers
	}
	return l
}

// MemberLimit is the most members a group may hold under l: MaxGroupMembers,
// or its default. For the front ends that run a group's members
// themselves (Kafka's classic groups).
func (l Limits) MemberLimit() int { return l.withDefaults().MaxGroupMembers }

// checkTopicLimitLocked refuses a topic past limit topics. The caller
// holds adminMu, so concurrent creations cannot both pass it.
func (b *Broker) checkTopicLimitLocked(name string, limit int) error {
	b.mu.RLock()
	n := len(b.topics)
	b.mu.RUnlock()
	if n < limit {
		return nil
	}
	return api.ErrTooManyTopics.Withf("the broker holds %d topics, its limit; delete one or raise --max-topics", n).
		WithDetail("topic", name).WithDetail("max_topics", limit)
}
