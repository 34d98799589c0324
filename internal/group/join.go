package group

import (
	"maps"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/assign"
)

// JoinParams is a join request as the group needs it. Zero timeouts take
// the defaults (session: Config.SessionTimeout; rebalance: the session
// timeout); an empty Assignor takes the group's, or Config.DefaultAssignor.
type JoinParams struct {
	MemberID         string // "": the group names the member
	InstanceID       string // static membership
	ClientID         string
	ClientHost       string // the peer address the broker saw
	Topics           []string
	TopicRegex       string // instead of Topics: every topic it matches in full, now and later
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	Assignor         string
	OffsetReset      string // "", earliest, latest or none; kept for the broker
}

// JoinResult answers a join. Assigned is what the member may own now; more
// comes through heartbeats as other members release partitions.
type JoinResult struct {
	MemberID          string
	Generation        int64
	Assigned          api.Assignment
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration
	Assignor          string
}

// Join adds a member, or starts a new incarnation of a live member that
// joins again with its member_id (KIP-848's join at epoch 0 of a known
// member): the old incarnation is fenced, whatever it owned is released at
// once with WhyRejoined (its in-flight messages go back), the epoch bumps,
// and calls carrying an older generation are FENCED_MEMBER. A departed
// static member that joins again with its member_id resumes its place; a
// restarted static instance with a new member_id takes over its old place. partitions holds
// the current partition count of (at least) the topics in p.Topics, of
// every topic for a p.TopicRegex; a topic absent or at 0 does not exist yet.
//
// Errors, all leaving the group unchanged: INVALID_ARGUMENT, INVALID_TIMEOUT,
// INVALID_ASSIGNOR (bad input), INCONSISTENT_ASSIGNOR (the group uses another
// assignor), DUPLICATE_INSTANCE_ID (the instance is live; retriable),
// GROUP_NOT_FOUND (deleted group).
func (g *Group) Join(now time.Time, p JoinParams, partitions map[string]int32) (JoinResult, error) {
	if g.state == StateDead {
		return JoinResult{}, g.deadErr()
	}
	session, rebalanceTimeout, err := g.cfg.checkJoin(p)
	if err != nil {
		return JoinResult{}, err
	}
	topics, matches, err := subscription(p.Topics, p.TopicRegex, partitions)
	if err != nil {
		return JoinResult{}, err
	}

	m, prior, err := g.identify(now, p)
	if err != nil {
		return JoinResult{}, err
	}
	assignor, err := g.chooseAssignor(p.Assignor, m != nil || prior != nil)
	if err != nil {
		return JoinResult{}, err
	}

	newParts := maps.Clone(g.partitions)
	for _, t := range topics {
		if n := partitions[t]; n > 0 {
			newParts[t] = n
		} else {
			delete(newParts, t)
		}
	}

	// Why the target must change, if it must.
	rejoin := m != nil && !m.left
	var reason Reason
	was := m
	if was == nil {
		was = prior
	}
	switch {
	case was == nil:
		reason = ReasonMemberJoined
	case !slices.Equal(was.topics, topics) || was.regex != p.TopicRegex || assignor != g.assignor:
		reason = ReasonSubscriptionChanged
	default:
		reason = partitionsReason(g.partitions, newParts)
	}
	if rejoin && reason == "" {
		reason = ReasonMemberJoined // the new incarnation needs an epoch of its own
	}

	id, seq := p.MemberID, g.joins
	if m == nil && (id == "" || g.members[id] != nil) {
		id, seq = g.newMemberID(p.ClientID, now)
	}

	// Compute the new target before touching anything, so that a failure
	// leaves the group as it was.
	var plan assign.Plan
	if reason != "" {
		ms := make(map[string]*member, len(g.members)+1)
		maps.Copy(ms, g.members)
		if prior != nil {
			delete(ms, prior.id)
		}
		ms[id] = &member{id: id, topics: topics, instanceID: p.InstanceID}
		from := ""
		if prior != nil {
			from = prior.id
		}
		plan, err = g.balance(assignor, assignMembers(ms), newParts, g.held(from, id))
		if err != nil {
			return JoinResult{}, api.ErrInternal.Withf("assign %s: %v", assignor, err)
		}
	}

	g.joins = seq
	switch {
	case rejoin:
		for _, p := range m.owned.sorted() {
			g.release(m, p, WhyRejoined)
		}
		m.gen, m.prevGen, m.since = 0, 0, g.epoch+1 // reason != "": apply bumps to it
	case prior != nil:
		m = g.takeOver(prior, id)
	case m == nil:
		m = newMember(id)
		// A new member's ID may have been a member's before (one fenced
		// or gone since, or one of the group's previous coordinator:
		// the client chooses it): what that incarnation still sends
		// carries an older generation, and is FENCED_MEMBER, as after a
		// rejoin (generations never go back, not even across restarts
		// or coordinators).
		m.since = g.epoch + 1 // reason != "": apply bumps to it
		g.members[id] = m
		g.fenced.remove(id)
	}
	if p.InstanceID != "" {
		g.instances[p.InstanceID] = m.id
	}
	m.instanceID, m.clientID, m.clientHost, m.offsetReset = p.InstanceID, p.ClientID, p.ClientHost, p.OffsetReset
	m.topics, m.regex, m.matches = topics, p.TopicRegex, matches
	m.sessionTimeout, m.rebalanceTimeout = session, rebalanceTimeout
	m.lastSeen, m.left = now, false
	m.hbSeq = 0 // a join starts the count of heartbeats over (a restarted process counts from 1)
	g.refresh(m)
	g.assignor = assignor
	prevParts := g.partitions
	g.partitions = newParts
	g.releaseGone(prevParts, newParts)
	if reason != "" {
		g.apply(now, reason, plan)
	}
	g.reconcile(now, m)
	g.settle(now)
	return JoinResult{
		MemberID:          m.id,
		Generation:        m.gen,
		Assigned:          m.told.assignment(),
		HeartbeatInterval: g.cfg.heartbeatInterval(session),
		SessionTimeout:    session,
		Assignor:          assignor,
	}, nil
}

// identify finds who joins: m, a known member joining again, or prior, a
// static member whose instance restarted; neither for a new member.
func (g *Group) identify(now time.Time, p JoinParams) (m, prior *member, err error) {
	m = g.members[p.MemberID]
	if m != nil && m.left && m.instanceID != p.InstanceID {
		m = nil // a departed static member's ID stays reserved for its instance
	}
	if m != nil {
		if m.instanceID != p.InstanceID {
			return nil, nil, api.ErrInvalidArgument.Withf("member %q has instance_id %q, not %q", m.id, m.instanceID, p.InstanceID)
		}
		return m, nil, nil
	}
	id, ok := g.instances[p.InstanceID]
	if !ok || p.InstanceID == "" {
		return nil, nil, nil
	}
	prior = g.members[id]
	if quiet := instanceQuiet(g.cfg.heartbeatInterval(prior.sessionTimeout)); prior.live(now, quiet) {
		// The instance is free once its old self has been quiet that
		// long: that is when to come back (rounded up, so a retry at it
		// does not arrive a moment early).
		free := prior.lastSeen.Add(quiet).Sub(now)
		return nil, nil, api.ErrDuplicateInstance.Withf("instance %q is live as member %q", p.InstanceID, prior.id).
			WithDetail("retry_after_ms", (free + time.Millisecond - 1).Milliseconds())
	}
	return nil, prior, nil
}

// instanceQuiet is how long a static member must have been quiet for its
// instance to be taken by a new member: a heartbeat interval and half of
// one. A member heartbeating every interval, as it is told to, is seen a
// little more than an interval apart; counted live for exactly one, a
// healthy idle holder was not live for a moment each interval, and a
// newcomer retrying at the retry_after_ms it was given took its instance
// from it then (4 times in 6 in a client test).
func instanceQuiet(heartbeat time.Duration) time.Duration {
	return heartbeat + heartbeat/2
}

// chooseAssignor returns the assignor a join ends up with: the first member
// (or the only one, joining again) picks it, or gets the group's default;
// later members must agree with it.
func (g *Group) chooseAssignor(want string, known bool) (string, error) {
	others := len(g.members)
	if known {
		others--
	}
	switch {
	case others > 0 && want != "" && want != g.assignor:
		return "", api.ErrInconsistentAssignor.Withf("group %q uses %s, not %s", g.id, g.assignor, want).
			WithDetail("assignor", g.assignor)
	case want != "":
		return want, nil
	case g.assignor != "":
		return g.assignor, nil
	}
	return g.cfg.DefaultAssignor, nil
}

// takeOver gives the static member prior's place to a new member ID: its
// target and what it owned, with no new epoch. prior's ID is fenced.
func (g *Group) takeOver(prior *member, id string) *member {
	m := newMember(id)
	m.target = prior.target
	m.kept = prior.kept
	m.gen, m.prevGen = prior.gen, prior.prevGen
	owned := prior.owned.sorted()
	g.remove(prior, WhyReplaced)
	g.fenced.add(prior.id)
	g.fenced.remove(id)
	g.members[id] = m
	for _, p := range owned {
		m.owned[p] = struct{}{}
		g.owners[p] = id
	}
	g.target = renamed(g.target, prior.id, id)
	return m
}

// renamed returns plan with from's entry under to.
func renamed(plan assign.Plan, from, to string) assign.Plan {
	if from == to {
		return plan
	}
	out := maps.Clone(plan)
	if a, ok := out[from]; ok {
		delete(out, from)
		out[to] = a
	}
	return out
}

// newMemberID names a new member uniquely within the group and returns the
// sequence number to record once the join succeeds.
func (g *Group) newMemberID(clientID string, now time.Time) (string, uint64) {
	for seq := g.joins + 1; ; seq++ {
		id := g.cfg.NewMemberID(clientID, seq, now)
		if g.members[id] == nil && !g.fenced.has(id) {
			return id, seq
		}
	}
}

// partitionsReason says why a change of partition counts rebalances, or ""
// when the counts did not change.
func partitionsReason(prev, next map[string]int32) Reason {
	if maps.Equal(prev, next) {
		return ""
	}
	for t, n := range prev {
		if n > 0 && next[t] == 0 {
			return ReasonTopicDeleted
		}
	}
	return ReasonPartitionsChanged
}
