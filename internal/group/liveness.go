package group

import (
	"time"
)

// Leave removes memberID at once and rebalances. A static member's leave
// instead releases what it owns but keeps its target reserved until its
// session times out, so that a quick restart takes it back with no
// rebalance (KIP-848's member epoch -2).
//
// Errors: UNKNOWN_MEMBER_ID, FENCED_MEMBER, GROUP_NOT_FOUND.
func (g *Group) Leave(now time.Time, memberID string) error {
	return g.leave(now, memberID, false)
}

// LeaveForGood removes memberID at once and rebalances, static or not: a
// static member that shuts down for good (KIP-848's member epoch -1) gives
// its place up, its instance_id is free and its partitions go to the others
// now rather than after its session timeout. Errors: those of Leave.
func (g *Group) LeaveForGood(now time.Time, memberID string) error {
	return g.leave(now, memberID, true)
}

func (g *Group) leave(now time.Time, memberID string, forGood bool) error {
	m, err := g.lookup(memberID)
	if err != nil {
		return err
	}
	if m.instanceID != "" && !forGood {
		for _, p := range m.owned.sorted() {
			g.release(m, p, WhyLeft)
		}
		m.left, m.lastSeen, m.revokeBy = true, now, time.Time{}
		g.refresh(m)
		g.settle(now)
		return nil
	}
	g.remove(m, WhyLeft)
	g.rebalance(now, ReasonMemberLeft)
	g.settle(now)
	return nil
}

// Tick fences every member whose session or rebalance timeout has passed,
// one rebalance each, in member order. The owner calls it at NextDeadline.
func (g *Group) Tick(now time.Time) {
	if g.state == StateDead {
		return
	}
	for _, id := range g.memberIDs() {
		m := g.members[id]
		var reason Reason
		switch {
		case !now.Before(m.sessionDeadline()):
			reason = ReasonSessionTimeout
		case !m.revokeBy.IsZero() && !now.Before(m.revokeBy):
			reason = ReasonRebalanceTimeout
		default:
			continue
		}
		g.remove(m, WhyFenced)
		g.fenced.add(id)
		g.rebalance(now, reason)
	}
	g.settle(now)
}
