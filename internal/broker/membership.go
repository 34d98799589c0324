package broker

import (
	"errors"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/group"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
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
// group's.
func (b *Broker) JoinGroup(groupID string, req api.JoinRequest, host string) (api.JoinResponse, error) {
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
	if err := b.checkJoinGuard(groupID); err != nil {
		return api.JoinResponse{}, err
	}
	c := b.coord
	for {
		cg, err := c.getOrCreate(groupID)
		if err != nil {
			return api.JoinResponse{}, err
		}
		res, err := c.join(cg, req, set, session, rebalance, host)
		if errors.Is(err, api.ErrGroupNotFound) {
			continue // deleted between getOrCreate and join: create it again
		}
		return res, err
	}
}

func joinSettings(req api.JoinRequest) (groupstate.Settings, error) {
	switch {
	case req.MaxRetries < -1:
		return groupstate.Settings{}, api.ErrInvalidArgument.Withf("max_retries %d: want -1 (no retries), 0 (default) or more", req.MaxRetries).WithDetail("field", "max_retries")
	case req.MaxInFlight < 0:
		return groupstate.Settings{}, api.ErrInvalidArgument.Withf("max_in_flight %d is negative", req.MaxInFlight).WithDetail("field", "max_in_flight")
	}
	visibility, err := checkedMS("visibility_timeout_ms", req.VisibilityTimeoutMS, MaxDelay, api.ErrInvalidArgument)
	if err != nil {
		return groupstate.Settings{}, err
	}
	return groupstate.Settings{MaxRetries: req.MaxRetries, VisibilityTimeout: visibility, MaxInFlight: req.MaxInFlight}, nil
}

func (c *coordinator) join(cg *cgroup, req api.JoinRequest, set groupstate.Settings, session, rebalance time.Duration, host string) (api.JoinResponse, error) {
	view := c.topicView(nil) // a join rebalances over every topic's partitions
	cg.mu.Lock()
	res, fx, err := cg.a.Join(c.now(), groupstate.Join{
		Params: group.JoinParams{
			MemberID:         req.MemberID,
			InstanceID:       req.InstanceID,
			ClientID:         req.ClientID,
			ClientHost:       host,
			Topics:           req.Topics,
			SessionTimeout:   session,
			RebalanceTimeout: rebalance,
			Assignor:         req.Assignor,
			OffsetReset:      req.OffsetReset,
		},
		Settings: set,
	}, view)
	p := c.doneLocked(cg, fx)
	cg.mu.Unlock()
	if perr := c.perform(cg, p); perr != nil {
		c.b.log.Error("persist offsets of a join", "group", cg.id, "err", perr)
	}
	if err != nil {
		return api.JoinResponse{}, err
	}
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
	res, fx, err := cg.a.Heartbeat(c.now(), req.MemberID, req.Generation, req.OwnedPartitions, host)
	p := c.doneLocked(cg, fx)
	cg.mu.Unlock()
	if perr := c.perform(cg, p); perr != nil {
		c.b.log.Error("persist offsets of a heartbeat", "group", cg.id, "err", perr)
	}
	if err != nil {
		return api.HeartbeatResponse{}, err
	}
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
	fx, err := cg.a.Leave(c.now(), memberID)
	p := c.doneLocked(cg, fx)
	cg.mu.Unlock()
	if perr := c.perform(cg, p); perr != nil {
		c.b.log.Error("persist offsets of a leave", "group", cg.id, "err", perr)
	}
	if err != nil {
		return err
	}
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
	m, _ := cg.a.Member(memberID)
	return m.Topics
}
