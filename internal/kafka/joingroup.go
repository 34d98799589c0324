package kafka

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/group"
)

// timeoutBounds are the broker's bounds of a member's timeouts
// (--min-session-timeout, --max-session-timeout, --max-rebalance-timeout),
// which bound Kafka members as they bound HTTP ones: Kafka's own
// group.min/max.session.timeout.ms (6 s and 30 min by default).
func (s *Server) timeoutBounds() (minSession, maxSession, maxRebalance time.Duration) {
	g := s.b.Config().Groups
	or := func(d, fallback time.Duration) time.Duration {
		if d <= 0 {
			return fallback
		}
		return d
	}
	return or(g.MinSessionTimeout, group.DefaultMinSessionTimeout), or(g.MaxSessionTimeout, group.DefaultMaxSessionTimeout),
		or(g.MaxRebalanceTimeout, group.DefaultMaxRebalanceTimeout)
}

// joinGroup adds or refreshes a member and waits until the join completes:
// when every member has rejoined, or the rebalance timeout passes.
func (s *Server) joinGroup(ctx context.Context, c *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.SetVersion(req.Version)
	resp.Generation, resp.MemberID = -1, req.MemberID
	fail := func(code int16) (kmsg.Response, error) {
		resp.ErrorCode = code
		return resp, nil
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 {
		rebalance = session
	}
	minSession, maxSession, maxRebalance := s.timeoutBounds()
	// Kafka bounds no rebalance timeout (clients send their
	// max.poll.interval.ms), so a longer one is cut to the broker's
	// bound, not refused: the group waits at most that long for members
	// to rejoin.
	rebalance = min(rebalance, maxRebalance)
	switch {
	case req.Group == "":
		return fail(kerr.InvalidGroupID.Code)
	case session < minSession || session > maxSession:
		return fail(kerr.InvalidSessionTimeout.Code)
	case len(req.Protocols) == 0 || req.ProtocolType == "":
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	if code := s.notCoordinator(req.Group); code != 0 {
		return fail(code)
	}
	gs := s.groups
	now := time.Now()
	gs.mu.Lock()
	g := gs.lookup(req.Group)
	if g == nil {
		g = gs.newGroup(req.Group)
		gs.byID[req.Group] = g
	}
	if len(g.members) > 0 && (req.ProtocolType != g.protocolType || !g.anySupported(req.Protocols)) {
		gs.mu.Unlock()
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	// The coordinator decides, atomically with joins of its own members,
	// whether the group may be a classic one now. A join that adds no
	// member gives the hold back at once.
	// refuse answers code to a join that adds no member; a group made
	// for it is forgotten (forgetIfUnused): kept, every join refused
	// (past --max-groups, say) or never completed added a group for good.
	refuse := func(code int16) (kmsg.Response, error) {
		g.releaseIfEmpty()
		gs.forgetIfUnused(g)
		gs.mu.Unlock()
		return fail(code)
	}
	if err := g.hold(); err != nil {
		return refuse(groupCode(err))
	}
	if code := g.fencedInstance(req.MemberID, req.InstanceID); code != 0 {
		return refuse(code)
	}
	// --max-group-members bounds classic groups too: a member that would
	// be new (an ID round's among them) is refused once the group holds
	// that many, counting the member IDs handed out and not yet back (the
	// joining one's aside), which a client that never comes back with
	// its ID would otherwise pile up until they expire. The members it
	// holds rejoin; a static member's new incarnation takes its place.
	limit := s.b.Config().Limits.MemberLimit()
	full := func(id string) bool {
		n := len(g.members) + len(g.pending)
		if _, ok := g.pending[id]; ok {
			n--
		}
		return n >= limit
	}
	tooMany := func() (kmsg.Response, error) { return refuse(errorCode(api.ErrTooManyMembers)) }
	id := req.MemberID
	m := g.members[id]
	switch {
	case id == "" && req.InstanceID != nil && *req.InstanceID != "":
		// A static member starting: no MEMBER_ID_REQUIRED round (KIP-345);
		// a new incarnation takes over the old one's place.
		gs.nextID++
		id = fmt.Sprintf("%s-%d-%d", c.client, now.UnixNano(), gs.nextID)
		if old := g.members[g.static[*req.InstanceID]]; old != nil {
			m = g.replaceStatic(old, id)
			prev := m.protocols
			// As the leader's answer lists it, and DescribeGroups; kept,
			// so not the request's read buffer (see ownProtocols).
			m.protocols = ownProtocols(req.Protocols)
			if out, ok := g.stableRejoin(m, req); ok {
				m.clientID, m.host = c.client, c.host
				m.session, m.rebalance, m.lastSeen = session, rebalance, now
				g.save()
				gs.mu.Unlock()
				return out, nil
			}
			m.protocols = prev
		}
	case id == "":
		gs.nextID++
		id = fmt.Sprintf("%s-%d-%d", c.client, now.UnixNano(), gs.nextID)
		if req.Version >= 4 {
			if full(id) {
				return tooMany()
			}
			// KIP-394: the client must come back with the ID it is given.
			g.pending[id] = now.Add(session)
			resp.MemberID = id
			return refuse(kerr.MemberIDRequired.Code)
		}
	case m == nil:
		if until, ok := g.pending[id]; !ok || now.After(until) {
			delete(g.pending, id)
			return refuse(kerr.UnknownMemberID.Code)
		}
	}
	if m == nil && full(id) {
		return tooMany()
	}
	reason := group.ReasonMemberRejoined
	if m == nil {
		m = &member{id: id}
		g.members[id] = m
		reason = group.ReasonMemberJoined
	}
	delete(g.pending, id)
	if m.join != nil {
		// A second JoinGroup of the same member replaces the first.
		old := kmsg.NewPtrJoinGroupResponse()
		old.ErrorCode, old.Generation, old.MemberID = kerr.RebalanceInProgress.Code, -1, id
		m.join <- old
	}
	m.clientID, m.host, m.protocols = c.client, c.host, ownProtocols(req.Protocols)
	if req.InstanceID != nil && *req.InstanceID != "" {
		m.instanceID = *req.InstanceID
		g.static[m.instanceID] = m.id
	}
	m.session, m.rebalance, m.lastSeen = session, rebalance, now
	m.join = make(chan *kmsg.JoinGroupResponse, 1)
	ch := m.join
	g.protocolType = req.ProtocolType
	if g.state == groupPreparingRebalance {
		g.maybeCompleteJoin(now)
	} else {
		g.prepareRebalance(now, reason)
	}
	g.save() // a static member's new incarnation above among others: never fence it after a move
	gs.mu.Unlock()

	// The wait holds no part of the frame (the protocols are copies).
	version := req.Version
	req.Protocols = nil
	c.releaseFrame()
	select {
	case out := <-ch:
		out.SetVersion(version)
		return out, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// anySupported reports whether the group's members all support one of ps.
func (g *kgroup) anySupported(ps []kmsg.JoinGroupRequestProtocol) bool {
	for _, p := range ps {
		if g.allSupport(p.Name) {
			return true
		}
	}
	return false
}

// ownProtocols is a copy of a JoinGroup's protocols that the group may
// keep: the request's byte fields are slices of the connection's read
// buffer, which its next request overwrites.
func ownProtocols(ps []kmsg.JoinGroupRequestProtocol) []kmsg.JoinGroupRequestProtocol {
	out := make([]kmsg.JoinGroupRequestProtocol, len(ps))
	for i, p := range ps {
		out[i] = kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: bytes.Clone(p.Metadata)}
	}
	return out
}
