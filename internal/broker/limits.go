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

// groupLimitLocked refuses to create group id past MaxGroups. The caller
// holds c.mu.
func (c *coordinator) groupLimitLocked(id string) error {
	limit := c.b.cfg.Limits.withDefaults().MaxGroups
	if len(c.groups) < limit {
		return nil
	}
	return api.ErrTooManyGroups.Withf("the broker holds %d groups, its limit; delete empty groups or raise --max-groups", len(c.groups)).
		WithDetail("group", id).WithDetail("max_groups", limit)
}

// memberLimitLocked refuses a join that would add a member to a group
// holding MaxGroupMembers members already: a known member joining again,
// or a static member taking over its instance, adds none. The caller
// holds cg.mu.
func (c *coordinator) memberLimitLocked(cg *cgroup, req JoinParams) error {
	if req.MemberID != "" {
		if _, ok := cg.g.Member(req.MemberID); ok {
			return nil
		}
	}
	limit := c.b.cfg.Limits.withDefaults().MaxGroupMembers
	members := cg.g.Describe(c.b.now()).Members
	if len(members) < limit {
		return nil
	}
	for _, m := range members {
		if req.InstanceID != "" && m.InstanceID == req.InstanceID {
			return nil
		}
	}
	return api.ErrTooManyMembers.Withf("group %q has %d members, its limit; raise --max-group-members", cg.id, len(members)).
		WithDetail("group", cg.id).WithDetail("max_group_members", limit)
}
