package group

import (
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// HeartbeatResult tells a member what it may own now. Anything it owns that
// is not in Assigned it must release (finish or hand back its messages,
// commit, and leave it out of its next heartbeat); Revoked lists exactly that.
type HeartbeatResult struct {
	Generation        int64
	Assigned          api.Assignment
	Revoked           api.Assignment // nil when nothing is to be released
	HeartbeatInterval time.Duration
}

// Heartbeat keeps memberID alive, takes owned (what it holds now) as the
// release of every partition it no longer lists, and answers its current
// assignment. It is lenient on generation: a member with any generation up
// to the group's learns the current state.
//
// Errors: UNKNOWN_MEMBER_ID (rejoin), FENCED_MEMBER (fenced or replaced, or a
// generation newer than the group's: rejoin), GROUP_NOT_FOUND.
func (g *Group) Heartbeat(now time.Time, memberID string, generation int64, owned api.Assignment) (HeartbeatResult, error) {
	m, err := g.lookup(memberID)
	if err != nil {
		return HeartbeatResult{}, err
	}
	if generation > g.epoch {
		return HeartbeatResult{}, api.ErrFencedMember.Withf("generation %d is newer than the group's %d", generation, g.epoch).
			WithDetail("generation", g.epoch)
	}
	m.lastSeen = now
	reported := fromAssignment(owned)
	if gone := m.owned.without(reported); len(gone) > 0 {
		for _, p := range gone.sorted() {
			g.release(m, p, WhyReleased)
		}
	}
	g.reconcile(now, m)
	g.settle(now)
	revoked := m.owned.without(m.told)
	for p := range reported.without(m.owned) { // claimed but never granted
		if revoked == nil {
			revoked = make(parts)
		}
		revoked[p] = struct{}{}
	}
	res := HeartbeatResult{
		Generation:        m.gen,
		Assigned:          m.told.assignment(),
		HeartbeatInterval: g.cfg.heartbeatInterval(m.sessionTimeout),
	}
	if len(revoked) > 0 {
		res.Revoked = revoked.assignment()
	}
	return res, nil
}

// lookup finds a member that may call the group.
func (g *Group) lookup(memberID string) (*member, error) {
	if g.state == StateDead {
		return nil, g.deadErr()
	}
	m := g.members[memberID]
	switch {
	case m != nil && !m.left:
		return m, nil
	case g.fenced.has(memberID):
		return nil, api.ErrFencedMember.Withf("member %q was fenced; join again", memberID)
	}
	return nil, api.ErrUnknownMember.Withf("member %q is not in group %q; join again", memberID, g.id)
}
