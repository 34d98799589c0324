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
// assignment. owned == nil (owned_partitions absent or null on the wire)
// reports no change: nothing is released; only an explicit assignment, {}
// included, releases what it leaves out (KIP-848's null vs empty). It is
// lenient on generation: a member with any generation from 0 up to the
// group's, since it joined, learns the current state.
//
// seq orders a member's heartbeats: a heartbeat whose seq is not above the
// highest one seen since the member's last join (a request the network
// delayed past its resend, or past the heartbeats after it) keeps the
// member alive but its owned is not read — it would release what the
// member has been granted since. seq ≤ 0 (absent) is not ordered.
//
// Errors: INVALID_ARGUMENT (a member_id no member could have: see
// ValidateID), UNKNOWN_MEMBER_ID or FENCED_MEMBER (fenced, replaced, or a
// generation from before the member joined or rejoined with this
// member_id: an earlier incarnation's; rejoin),
// STALE_GENERATION (a negative generation, or one newer than the group's:
// nothing changes and the member is not fenced; details.generation is the
// member's current generation to heartbeat with), GROUP_NOT_FOUND.
func (g *Group) Heartbeat(now time.Time, memberID string, generation int64, owned api.Assignment, seq int64) (HeartbeatResult, error) {
	m, err := g.caller(memberID, generation)
	if err != nil {
		return HeartbeatResult{}, err
	}
	m.lastSeen = now
	if seq > 0 {
		if seq <= m.hbSeq {
			owned = nil // out of order: what it says it owns is old news
		} else {
			m.hbSeq = seq
		}
	}
	reported := m.owned
	if owned != nil {
		reported = fromAssignment(owned)
	}
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

// caller finds the member a heartbeat (or a change of its subscription)
// comes from, lenient on generation as Heartbeat is.
func (g *Group) caller(memberID string, generation int64) (*member, error) {
	m, err := g.lookup(memberID)
	if err != nil {
		return nil, err
	}
	if generation < 0 || generation > g.epoch {
		return nil, api.ErrStaleGeneration.Withf("generation %d is outside 0..%d, the group's; heartbeat with %d", generation, g.epoch, m.gen).
			WithDetail("generation", m.gen)
	}
	if m.earlier(generation) {
		return nil, replacedErr(m, generation)
	}
	return m, nil
}

// lookup finds a member that may call the group. An ID no member could
// have (see ValidateID) is INVALID_ARGUMENT, never echoed whole.
func (g *Group) lookup(memberID string) (*member, error) {
	if g.state == StateDead {
		return nil, g.deadErr()
	}
	if err := ValidateID("member_id", memberID); err != nil {
		return nil, err
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

// replacedErr refuses a call from an earlier incarnation of m's member_id
// (one a rejoin replaced, or one fenced or gone since, or one of the
// group's previous coordinator).
func replacedErr(m *member, generation int64) error {
	return api.ErrFencedMember.Withf("generation %d is from before member %q joined at %d; join again", generation, m.id, m.since).
		WithDetail("generation", m.gen)
}
