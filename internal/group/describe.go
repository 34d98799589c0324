package group

import (
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// Describe renders the group for GET /groups/{group}: state, generation,
// assignor, members sorted by ID (assigned, revoking, idle) and rebalance
// statistics. The broker adds what it owns: lag, partitions, in-flight counts.
// ClientHost is the host of the member's last join.
func (g *Group) Describe(now time.Time) api.GroupDescription {
	d := api.GroupDescription{
		GroupID:    g.id,
		State:      g.state.String(),
		Generation: g.epoch,
		Assignor:   g.assignor,
		Members:    make([]api.MemberDescription, 0, len(g.members)),
		Rebalances: g.history.stats(now),
	}
	for _, id := range g.memberIDs() {
		m := g.members[id]
		md := api.MemberDescription{
			MemberID:           m.id,
			InstanceID:         m.instanceID,
			ClientID:           m.clientID,
			ClientHost:         m.clientHost,
			Generation:         m.gen,
			AssignedPartitions: m.told.assignment(),
			Topics:             append([]string(nil), m.topics...),
			TopicRegex:         m.regex,
			SessionTimeoutMS:   m.sessionTimeout.Milliseconds(),
			LastHeartbeat:      m.lastSeen.UnixMilli(),
			Idle:               len(m.target) == 0,
			TargetPartitions:   m.target.assignment(),
		}
		if m.left {
			// Reserved for a restart: show what it will get back.
			md.AssignedPartitions = m.target.assignment()
		}
		if r := m.owned.without(m.told); len(r) > 0 {
			md.RevokingPartitions = r.assignment()
		}
		d.Members = append(d.Members, md)
	}
	return d
}

// Rebalances returns the rebalance statistics alone, for metrics: counts by
// reason, time in rebalance (the one in progress counted until now) and the
// last rebalances.
func (g *Group) Rebalances(now time.Time) api.RebalanceStats { return g.history.stats(now) }
