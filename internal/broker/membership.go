package broker

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/group"
)

// ValidateGroupID reports whether id is a legal group ID: the rules of topic
// names (1–249 of [a-zA-Z0-9._-]), so IDs are safe in paths and keys. The
// error is an api.ErrInvalidArgument.
func ValidateGroupID(id string) error {
	if err := checkName(api.ErrInvalidArgument, "group ID", id); err != nil {
		return err.WithDetail("field", "group")
	}
	return nil
}

// MaxDelay is the longest delay a request may name: a group's visibility
// timeout, a nack's delay, an extension. It keeps every such value far
// from the overflow of time.Duration (about 292 years) and of a deadline.
const MaxDelay = 24 * time.Hour

// checkDuration refuses a negative duration or one above limit with bad
// (INVALID_TIMEOUT or INVALID_ARGUMENT) whose details hold the bounds.
// what names the value in the message, not a field of any wire format:
// front ends check their own fields first.
func checkDuration(what string, d, limit time.Duration, bad *api.Error) error {
	if d < 0 || d > limit {
		return bad.Withf("%s %v is outside 0s..%v", what, d, limit).
			WithDetail("min", "0s").WithDetail("max", limit.String())
	}
	return nil
}

// MaxGroupTimeouts returns the longest session and rebalance timeouts a
// join may name.
func (b *Broker) MaxGroupTimeouts() (session, rebalance time.Duration) {
	return b.cfg.Groups.MaxTimeouts()
}

// JoinGroup adds a member to groupID (creating the group on its first join)
// and answers what it may own now; a join naming a live member's MemberID
// starts a new incarnation of it (see group.Group.Join): what the old one
// held in flight goes back at once. host is the peer address the request
// came from. IDs follow group.ValidateID. Errors: INVALID_ARGUMENT,
// INVALID_TIMEOUT, INVALID_ASSIGNOR, TOPIC_NOT_FOUND, INCONSISTENT_ASSIGNOR,
// DUPLICATE_INSTANCE_ID, INVALID_ARGUMENT when the join names delivery
// settings other than the group's, INCONSISTENT_GROUP_PROTOCOL when the
// group has Kafka members.
func (b *Broker) JoinGroup(groupID string, p JoinParams, host string) (JoinResult, error) {
	return b.join(groupID, p, host, ProtocolHTTP)
}

// join joins a member speaking proto (see kafka_groups.go); a group with
// members of another protocol refuses it with INCONSISTENT_GROUP_PROTOCOL.
func (b *Broker) join(groupID string, p JoinParams, host, proto string) (JoinResult, error) {
	if err := ValidateGroupID(groupID); err != nil {
		return JoinResult{}, err
	}
	set, err := joinSettings(p)
	if err != nil {
		return JoinResult{}, err
	}
	maxSession, maxRebalance := b.cfg.Groups.MaxTimeouts()
	if err := checkDuration("session timeout", p.SessionTimeout, maxSession, api.ErrInvalidTimeout); err != nil {
		return JoinResult{}, err
	}
	if err := checkDuration("rebalance timeout", p.RebalanceTimeout, maxRebalance, api.ErrInvalidTimeout); err != nil {
		return JoinResult{}, err
	}
	for _, t := range p.Topics {
		if _, err := b.lookup(t); err != nil {
			return JoinResult{}, err
		}
	}
	c := b.coord
	for {
		cg, err := c.getOrCreate(groupID)
		if err != nil {
			return JoinResult{}, err
		}
		res, err := c.join(cg, p, set, host, proto)
		if errors.Is(err, api.ErrGroupNotFound) {
			continue // deleted between getOrCreate and join: create it again
		}
		return res, err
	}
}

func joinSettings(p JoinParams) (groupSettings, error) {
	switch {
	case p.MaxRetries < -1:
		return groupSettings{}, api.ErrInvalidArgument.Withf("max retries %d: want -1 (no retries), 0 (default) or more", p.MaxRetries)
	case p.MaxInFlight < 0:
		return groupSettings{}, api.ErrInvalidArgument.Withf("max in flight %d is negative", p.MaxInFlight)
	}
	if err := checkDuration("visibility timeout", p.VisibilityTimeout, MaxDelay, api.ErrInvalidArgument); err != nil {
		return groupSettings{}, err
	}
	return groupSettings{MaxRetries: p.MaxRetries, VisibilityTimeout: p.VisibilityTimeout, MaxInFlight: p.MaxInFlight}, nil
}

func (c *coordinator) join(cg *cgroup, req JoinParams, set groupSettings, host, proto string) (JoinResult, error) {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if err := cg.checkProtocolLocked(proto); err != nil {
		return JoinResult{}, err
	}
	if err := c.memberLimitLocked(cg, req); err != nil {
		return JoinResult{}, err
	}
	creating := cg.g.Empty()
	var saved savedSettings
	if creating {
		// What the join leaves out, the group keeps (savedSettings).
		saved = cg.saved.inherit(&req)
		saved.Protocol = proto
		var err error
		if set, err = joinSettings(req); err != nil {
			return JoinResult{}, err
		}
	} else if err := cg.settings.conflict(set); err != nil {
		return JoinResult{}, err
	}
	now := c.b.now()
	res, err := cg.g.Join(now, group.JoinParams{
		MemberID:         req.MemberID,
		InstanceID:       req.InstanceID,
		ClientID:         req.ClientID,
		ClientHost:       host,
		Topics:           req.Topics,
		SessionTimeout:   req.SessionTimeout,
		RebalanceTimeout: req.RebalanceTimeout,
		Assignor:         req.Assignor,
		OffsetReset:      req.OffsetReset,
	}, c.partitionCounts())
	c.afterOpLocked(cg)
	if err != nil {
		return JoinResult{}, err
	}
	if creating {
		cg.offsetReset = req.OffsetReset
		if set != cg.settings {
			c.reconfigureLocked(cg, set)
		}
		if saved != cg.saved {
			if err := c.b.meta.putGroupSettings(cg.id, saved); err != nil {
				c.b.log.Error("save group settings; they apply until a restart", "group", cg.id, "err", err)
			}
			cg.saved = saved
		}
	}
	cg.hosts[res.MemberID] = host
	c.wake()
	return JoinResult{
		MemberID:          res.MemberID,
		Generation:        res.Generation,
		Assigned:          nonNil(res.Assigned),
		HeartbeatInterval: res.HeartbeatInterval,
		SessionTimeout:    res.SessionTimeout,
		Assignor:          res.Assignor,
	}, nil
}

// conflict refuses a join into a live group that names delivery settings
// other than those its creator fixed; zero fields name nothing.
func (s groupSettings) conflict(o groupSettings) error {
	bad := func(setting string, have, want any) error {
		return api.ErrInvalidArgument.Withf("group uses %s %v, fixed by the member that created it; join with %v or omit it", setting, have, want).
			WithDetail("setting", setting).WithDetail("group_value", fmt.Sprint(have))
	}
	switch {
	case o.MaxRetries != 0 && o.MaxRetries != s.MaxRetries:
		return bad("max retries", s.MaxRetries, o.MaxRetries)
	case o.VisibilityTimeout != 0 && o.VisibilityTimeout != s.VisibilityTimeout:
		return bad("visibility timeout", s.VisibilityTimeout, o.VisibilityTimeout)
	case o.MaxInFlight != 0 && o.MaxInFlight != s.MaxInFlight:
		return bad("max in flight", s.MaxInFlight, o.MaxInFlight)
	}
	return nil
}

// reconfigureLocked gives an empty group new delivery settings: a fresh
// delivery.Group restored from the old one's offsets (an empty group holds
// nothing in flight). Callers hold cg.mu.
func (c *coordinator) reconfigureLocked(cg *cgroup, set groupSettings) {
	d := delivery.NewGroup(set.config().Or(c.dcfg))
	for _, tp := range cg.d.Partitions() {
		if committed, acked, ok := cg.d.Snapshot(tp); ok {
			d.Restore(tp, committed, acked)
		}
	}
	cg.d, cg.settings = d, set
}

// nonNil returns a as the broker's Assignment, empty rather than nil.
func nonNil(a api.Assignment) Assignment {
	if a == nil {
		return Assignment{}
	}
	return Assignment(a)
}

// Heartbeat keeps a member alive and tells it what it may own now; a nil
// p.Owned releases nothing. Errors:
// GROUP_NOT_FOUND, INVALID_ARGUMENT, UNKNOWN_MEMBER_ID, FENCED_MEMBER,
// STALE_GENERATION (a generation below 0 or above the group's).
func (b *Broker) Heartbeat(groupID string, req HeartbeatParams, host string) (HeartbeatResult, error) {
	c := b.coord
	cg, err := c.lookup(groupID)
	if err != nil {
		return HeartbeatResult{}, err
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	before, _ := cg.g.Member(req.MemberID)
	res, err := cg.g.Heartbeat(c.b.now(), req.MemberID, req.Generation, api.Assignment(req.Owned))
	c.afterOpLocked(cg)
	if err != nil {
		return HeartbeatResult{}, err
	}
	if !sameAssignment(before.Assigned, res.Assigned) {
		// The member's long poll waits on its old partitions: wake it.
		cg.signalLocked()
	}
	cg.hosts[req.MemberID] = host
	c.wake()
	return HeartbeatResult{
		Generation:        res.Generation,
		Assigned:          nonNil(res.Assigned),
		Revoked:           Assignment(res.Revoked),
		HeartbeatInterval: res.HeartbeatInterval,
	}, nil
}

// LeaveGroup removes a member; what it held in flight goes to the next
// owners at once. Errors: GROUP_NOT_FOUND, UNKNOWN_MEMBER_ID, FENCED_MEMBER.
func (b *Broker) LeaveGroup(groupID, memberID string) error {
	c := b.coord
	cg, err := c.lookup(groupID)
	if err != nil {
		return err
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	err = cg.g.Leave(c.b.now(), memberID)
	c.afterOpLocked(cg)
	if err != nil {
		return err
	}
	if cg.d.ReleaseMember(memberID) > 0 {
		cg.signalLocked()
	}
	delete(cg.hosts, memberID)
	delete(cg.nudged, memberID)
	c.wake()
	return nil
}

// MemberTopics returns the topics memberID of groupID subscribes to, or
// nil if there is no such live member (the call it guards then fails on
// its own). The HTTP layer checks a scoped key against them: a member ID
// is no secret, so whoever acts as a member must be allowed its topics.
func (b *Broker) MemberTopics(groupID, memberID string) []string {
	cg, err := b.coord.lookup(groupID)
	if err != nil {
		return nil
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	m, _ := cg.g.Member(memberID)
	return m.Topics
}

func sameAssignment(a, b api.Assignment) bool {
	count := func(x api.Assignment) (n int) {
		for _, ps := range x {
			n += len(ps)
		}
		return n
	}
	if count(a) != count(b) {
		return false
	}
	for t, ps := range a {
		if !slices.Equal(ps, b[t]) {
			return false
		}
	}
	return true
}
