package broker

import (
	"errors"
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

// MaxDelay is the longest delay a request may name in milliseconds: a
// group's visibility timeout, a nack's delay_ms, an extension's
// visibility_timeout_ms. It keeps every such field far from the overflow of
// time.Duration (about 292 years).
const MaxDelay = 24 * time.Hour

// ms converts a count of milliseconds that its caller checked is not
// negative. A count above MaxDelay saturates at MaxDelay, so no field can
// overflow into a negative or wrapped duration; callers that must refuse
// such values (with a 400) use checkedMS instead.
func ms(v int64) time.Duration {
	if v > MaxDelay.Milliseconds() {
		return MaxDelay
	}
	return time.Duration(max(v, 0)) * time.Millisecond
}

// checkedMS converts field's v milliseconds, refusing a negative count or
// one above limit with bad (INVALID_TIMEOUT or INVALID_ARGUMENT) whose
// details name the field and the bounds in ms: min 0, max limit.
func checkedMS(field string, v int64, limit time.Duration, bad *api.Error) (time.Duration, error) {
	if v < 0 || v > limit.Milliseconds() {
		return 0, bad.Withf("%s %d is outside 0..%d", field, v, limit.Milliseconds()).
			WithDetail("field", field).WithDetail("min", int64(0)).WithDetail("max", limit.Milliseconds())
	}
	return time.Duration(v) * time.Millisecond, nil
}

// JoinGroup adds a member to groupID (creating the group on its first join)
// and answers what it may own now; a join naming a live member's member_id
// starts a new incarnation of it (see group.Group.Join): what the old one
// held in flight goes back at once. host is the peer address the request
// came from. IDs follow group.ValidateID; millisecond fields are checked
// before conversion (checkedMS). Errors: INVALID_ARGUMENT, INVALID_TIMEOUT, INVALID_ASSIGNOR,
// TOPIC_NOT_FOUND, INCONSISTENT_ASSIGNOR, DUPLICATE_INSTANCE_ID, and
// INVALID_ARGUMENT when the join names delivery settings other than the
// group's, INCONSISTENT_GROUP_PROTOCOL when the group has Kafka members.
func (b *Broker) JoinGroup(groupID string, req api.JoinRequest, host string) (api.JoinResponse, error) {
	return b.join(groupID, req, host, ProtocolHTTP)
}

// join joins a member speaking proto (see kafka_groups.go); a group with
// members of another protocol refuses it with INCONSISTENT_GROUP_PROTOCOL.
func (b *Broker) join(groupID string, req api.JoinRequest, host, proto string) (api.JoinResponse, error) {
	if err := ValidateGroupID(groupID); err != nil {
		return api.JoinResponse{}, err
	}
	set, err := joinSettings(req)
	if err != nil {
		return api.JoinResponse{}, err
	}
	maxSession, maxRebalance := b.cfg.Groups.MaxTimeouts()
	session, err := checkedMS("session_timeout_ms", req.SessionTimeoutMS, maxSession, api.ErrInvalidTimeout)
	if err != nil {
		return api.JoinResponse{}, err
	}
	rebalance, err := checkedMS("rebalance_timeout_ms", req.RebalanceTimeoutMS, maxRebalance, api.ErrInvalidTimeout)
	if err != nil {
		return api.JoinResponse{}, err
	}
	for _, t := range req.Topics {
		if _, err := b.lookup(t); err != nil {
			return api.JoinResponse{}, err
		}
	}
	c := b.coord
	for {
		cg, err := c.getOrCreate(groupID)
		if err != nil {
			return api.JoinResponse{}, err
		}
		res, err := c.join(cg, req, set, session, rebalance, host, proto)
		if errors.Is(err, api.ErrGroupNotFound) {
			continue // deleted between getOrCreate and join: create it again
		}
		return res, err
	}
}

func joinSettings(req api.JoinRequest) (groupSettings, error) {
	switch {
	case req.MaxRetries < -1:
		return groupSettings{}, api.ErrInvalidArgument.Withf("max_retries %d: want -1 (no retries), 0 (default) or more", req.MaxRetries).WithDetail("field", "max_retries")
	case req.MaxInFlight < 0:
		return groupSettings{}, api.ErrInvalidArgument.Withf("max_in_flight %d is negative", req.MaxInFlight).WithDetail("field", "max_in_flight")
	}
	visibility, err := checkedMS("visibility_timeout_ms", req.VisibilityTimeoutMS, MaxDelay, api.ErrInvalidArgument)
	if err != nil {
		return groupSettings{}, err
	}
	return groupSettings{MaxRetries: req.MaxRetries, VisibilityTimeout: visibility, MaxInFlight: req.MaxInFlight}, nil
}

func (c *coordinator) join(cg *cgroup, req api.JoinRequest, set groupSettings, session, rebalance time.Duration, host, proto string) (api.JoinResponse, error) {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if err := cg.checkProtocolLocked(proto); err != nil {
		return api.JoinResponse{}, err
	}
	if err := c.memberLimitLocked(cg, req); err != nil {
		return api.JoinResponse{}, err
	}
	creating := cg.g.Empty()
	var saved savedSettings
	if creating {
		// What the join leaves out, the group keeps (savedSettings).
		saved = cg.saved.inherit(&req)
		saved.Protocol = proto
		var err error
		if set, err = joinSettings(req); err != nil {
			return api.JoinResponse{}, err
		}
	} else if err := cg.settings.conflict(set); err != nil {
		return api.JoinResponse{}, err
	}
	now := c.b.now()
	res, err := cg.g.Join(now, group.JoinParams{
		MemberID:         req.MemberID,
		InstanceID:       req.InstanceID,
		ClientID:         req.ClientID,
		ClientHost:       host,
		Topics:           req.Topics,
		SessionTimeout:   session,
		RebalanceTimeout: rebalance,
		Assignor:         req.Assignor,
		OffsetReset:      req.OffsetReset,
	}, c.partitionCounts())
	c.afterOpLocked(cg)
	if err != nil {
		return api.JoinResponse{}, err
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
	return api.JoinResponse{
		MemberID:            res.MemberID,
		Generation:          res.Generation,
		AssignedPartitions:  nonNil(res.Assigned),
		HeartbeatIntervalMS: res.HeartbeatInterval.Milliseconds(),
		SessionTimeoutMS:    res.SessionTimeout.Milliseconds(),
		Assignor:            res.Assignor,
	}, nil
}

// conflict refuses a join into a live group that names delivery settings
// other than those its creator fixed; zero fields name nothing.
func (s groupSettings) conflict(o groupSettings) error {
	bad := func(field string, have, want any) error {
		return api.ErrInvalidArgument.Withf("group uses %s %v, fixed by the member that created it; join with %v or omit it", field, have, want).
			WithDetail("field", field).WithDetail("group_value", have)
	}
	switch {
	case o.MaxRetries != 0 && o.MaxRetries != s.MaxRetries:
		return bad("max_retries", s.MaxRetries, o.MaxRetries)
	case o.VisibilityTimeout != 0 && o.VisibilityTimeout != s.VisibilityTimeout:
		return bad("visibility_timeout_ms", s.VisibilityTimeout.Milliseconds(), o.VisibilityTimeout.Milliseconds())
	case o.MaxInFlight != 0 && o.MaxInFlight != s.MaxInFlight:
		return bad("max_in_flight", s.MaxInFlight, o.MaxInFlight)
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

func nonNil(a api.Assignment) api.Assignment {
	if a == nil {
		return api.Assignment{}
	}
	return a
}

// Heartbeat keeps a member alive and tells it what it may own now; a nil
// req.OwnedPartitions (absent or null) releases nothing. Errors:
// GROUP_NOT_FOUND, INVALID_ARGUMENT, UNKNOWN_MEMBER_ID, FENCED_MEMBER,
// STALE_GENERATION (a generation below 0 or above the group's).
func (b *Broker) Heartbeat(groupID string, req api.HeartbeatRequest, host string) (api.HeartbeatResponse, error) {
	c := b.coord
	cg, err := c.lookup(groupID)
	if err != nil {
		return api.HeartbeatResponse{}, err
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	before, _ := cg.g.Member(req.MemberID)
	res, err := cg.g.Heartbeat(c.b.now(), req.MemberID, req.Generation, req.OwnedPartitions)
	c.afterOpLocked(cg)
	if err != nil {
		return api.HeartbeatResponse{}, err
	}
	if !sameAssignment(before.Assigned, res.Assigned) {
		// The member's long poll waits on its old partitions: wake it.
		cg.signalLocked()
	}
	cg.hosts[req.MemberID] = host
	c.wake()
	return api.HeartbeatResponse{
		Generation:          res.Generation,
		AssignedPartitions:  nonNil(res.Assigned),
		RevokedPartitions:   res.Revoked,
		HeartbeatIntervalMS: res.HeartbeatInterval.Milliseconds(),
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
