package coordinator

import (
	"errors"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/group"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
)

// checkID checks a group ID by the broker's naming rules (Config.CheckID).
func (c *Coordinator) checkID(id string) error {
	if c.opts.CheckID == nil {
		return nil
	}
	return c.opts.CheckID(id)
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

// GroupTimeouts returns the bounds of the session and rebalance timeouts a
// join may name.
func (c *Coordinator) GroupTimeouts() (minSession, maxSession, maxRebalance time.Duration) {
	return c.opts.Groups.Timeouts()
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
func (c *Coordinator) JoinGroup(groupID string, p JoinParams, host string) (JoinResult, error) {
	return c.joinAs(groupID, p, host, ProtocolHTTP)
}

// joinAs joins a member speaking proto (see kafka_groups.go); a group with
// members of another protocol refuses it with INCONSISTENT_GROUP_PROTOCOL.
func (c *Coordinator) joinAs(groupID string, p JoinParams, host, proto string) (JoinResult, error) {
	if err := c.checkID(groupID); err != nil {
		return JoinResult{}, err
	}
	set, err := joinSettings(p)
	if err != nil {
		return JoinResult{}, err
	}
	_, maxSession, maxRebalance := c.opts.Groups.Timeouts()
	if err := checkDuration("session timeout", p.SessionTimeout, maxSession, api.ErrInvalidTimeout); err != nil {
		return JoinResult{}, err
	}
	if err := checkDuration("rebalance timeout", p.RebalanceTimeout, maxRebalance, api.ErrInvalidTimeout); err != nil {
		return JoinResult{}, err
	}
	for _, t := range p.Topics {
		if _, err := c.b.Topic(t); err != nil && proto != ProtocolConsumer {
			// A KIP-848 member may subscribe to a topic before it is
			// created, as on Kafka: the group gets its partitions with the
			// topic change (SetTopics). An HTTP member learns its typo.
			return JoinResult{}, err
		}
	}
	// What a join can be refused for without a group is checked before
	// one is created: a refused join created an empty group, counted
	// against --max-groups and listed by GET /groups.
	if err := c.cfg.Group.CheckJoin(groupJoinParams(p, host)); err != nil {
		return JoinResult{}, err
	}
	for {
		cg, err := c.getOrCreate(groupID)
		if err != nil {
			return JoinResult{}, err
		}
		res, err := c.join(cg, p, set, host, proto)
		if errors.Is(err, api.ErrGroupNotFound) {
			continue // deleted between getOrCreate and join: create it again
		}
		if err != nil {
			// A group made for a join it then refused (its settings could
			// not be saved, say) goes: kept, it was listed and counted
			// against --max-groups for good.
			c.ForgetBlankGroup(groupID)
		}
		return res, err
	}
}

func joinSettings(p JoinParams) (groupstate.Settings, error) {
	switch {
	case p.MaxRetries < -1:
		return groupstate.Settings{}, api.ErrInvalidArgument.Withf("max retries %d: want -1 (no retries), 0 (default) or more", p.MaxRetries)
	case p.MaxInFlight < 0:
		return groupstate.Settings{}, api.ErrInvalidArgument.Withf("max in flight %d is negative", p.MaxInFlight)
	}
	if err := checkDuration("visibility timeout", p.VisibilityTimeout, MaxDelay, api.ErrInvalidArgument); err != nil {
		return groupstate.Settings{}, err
	}
	return groupstate.Settings{MaxRetries: p.MaxRetries, VisibilityTimeout: p.VisibilityTimeout, MaxInFlight: p.MaxInFlight}, nil
}

func (c *Coordinator) join(cg *cgroup, req JoinParams, set groupstate.Settings, host, proto string) (JoinResult, error) {
	view := c.topicView(nil) // a join rebalances over every topic's partitions
	j := groupstate.Join{Params: groupJoinParams(req, host), Settings: set, Protocol: proto}
	res, p, err := c.joinSaving(cg, j, view)
	if rerr := c.reserve(cg, &p); rerr != nil && err == nil {
		err = rerr // the member must not hold a generation not reserved
	}
	if perr := c.perform(cg, p); perr != nil {
		c.log.Error("persist offsets of a join", "group", cg.id, "err", perr)
	}
	if err != nil {
		return JoinResult{}, err
	}
	c.wake()
	cg.mu.Lock()
	maxInFlight := cg.a.DeliveryConfig().MaxInFlightPerMember
	cg.mu.Unlock()
	return JoinResult{
		MemberID:          res.MemberID,
		Generation:        res.Generation,
		Assigned:          nonNil(res.Assigned),
		HeartbeatInterval: res.HeartbeatInterval,
		SessionTimeout:    res.SessionTimeout,
		Assignor:          res.Assignor,
		MaxInFlight:       maxInFlight,
	}, nil
}

// joinSaving runs j on cg, saving first the settings it fixes if it
// creates the group (groupstate.Group.Fixes): a join whose settings could
// not be saved is refused with the storage error, the group unchanged.
// Answered as a success, its settings applied until a restart, which
// brought the group back with the broker's defaults, or not at all.
// cg.saveMu keeps another join (or a deletion) from changing the group's
// settings between the save and the join; a join refused after the save
// puts back the settings the group keeps. It returns what is left to
// perform.
func (c *Coordinator) joinSaving(cg *cgroup, j groupstate.Join, view groupstate.Topics) (group.JoinResult, pending, error) {
	cg.saveMu.Lock()
	defer cg.saveMu.Unlock()
	cg.mu.Lock()
	want, save := cg.a.Fixes(j)
	cg.mu.Unlock()
	if save {
		if err := c.io.saveSettings(cg.key(), want); err != nil {
			return group.JoinResult{}, pending{}, err
		}
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	res, fx, err := cg.a.Join(c.now(), j, view)
	p := c.doneLocked(cg, fx)
	switch {
	case !save:
	case err != nil && !errors.Is(err, api.ErrGroupNotFound):
		kept := cg.a.SavedSettings()
		p.settings = &kept
	case p.settings != nil && *p.settings == want:
		p.settings = nil // saved above
	}
	return res, p, err
}

// groupJoinParams is req, from host, as the membership takes it.
func groupJoinParams(req JoinParams, host string) group.JoinParams {
	return group.JoinParams{
		MemberID:         req.MemberID,
		InstanceID:       req.InstanceID,
		ClientID:         req.ClientID,
		ClientHost:       host,
		Topics:           req.Topics,
		TopicRegex:       req.TopicRegex,
		SessionTimeout:   req.SessionTimeout,
		RebalanceTimeout: req.RebalanceTimeout,
		Assignor:         req.Assignor,
		OffsetReset:      req.OffsetReset,
	}
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
func (c *Coordinator) Heartbeat(groupID string, req HeartbeatParams, host string) (HeartbeatResult, error) {
	cg, err := c.lookup(groupID)
	if err != nil {
		return HeartbeatResult{}, err
	}
	cg.mu.Lock()
	res, fx, err := cg.a.Heartbeat(c.now(), req.MemberID, req.Generation, api.Assignment(req.Owned), req.Seq, host)
	p := c.doneLocked(cg, fx)
	cg.mu.Unlock()
	if rerr := c.reserve(cg, &p); rerr != nil && err == nil {
		err = rerr // the member must not hold a generation not reserved
	}
	if perr := c.perform(cg, p); perr != nil {
		c.log.Error("persist offsets of a heartbeat", "group", cg.id, "err", perr)
	}
	if err != nil {
		return HeartbeatResult{}, err
	}
	c.wake()
	return HeartbeatResult{
		Generation:        res.Generation,
		Assigned:          nonNil(res.Assigned),
		Revoked:           Assignment(res.Revoked),
		HeartbeatInterval: res.HeartbeatInterval,
	}, nil
}

// LeaveGroup removes a member; what it held in flight goes to the next
// owners at once. A static member keeps its place (its target, no
// rebalance) until its session timeout, so that its restart takes it back.
// Errors: GROUP_NOT_FOUND, UNKNOWN_MEMBER_ID, FENCED_MEMBER.
func (c *Coordinator) LeaveGroup(groupID, memberID string) error {
	return c.leave(groupID, memberID, false)
}

// LeaveGroupForGood is LeaveGroup, but a static member gives its place up
// too: its partitions are reassigned at once (KIP-848's member epoch -1).
func (c *Coordinator) LeaveGroupForGood(groupID, memberID string) error {
	return c.leave(groupID, memberID, true)
}

func (c *Coordinator) leave(groupID, memberID string, forGood bool) error {
	cg, err := c.lookup(groupID)
	if err != nil {
		return err
	}
	cg.mu.Lock()
	fx, err := cg.a.Leave(c.now(), memberID, forGood)
	p := c.doneLocked(cg, fx)
	unkept := err == nil && cg.a.Unkept() // the last member left
	cg.mu.Unlock()
	if perr := c.perform(cg, p); perr != nil {
		c.log.Error("persist offsets of a leave", "group", cg.id, "err", perr)
	}
	if err != nil {
		return err
	}
	if unkept {
		c.forgetUnkeptGroup(cg)
	}
	c.wake()
	return nil
}

// MemberTopics returns the topics memberID of groupID subscribes to, or
// nil if there is no such live member (the call it guards then fails on
// its own). The HTTP layer checks a scoped key against them: a member ID
// is no secret, so whoever acts as a member must be allowed its topics.
func (c *Coordinator) MemberTopics(groupID, memberID string) []string {
	cg, err := c.lookup(groupID)
	if err != nil {
		return nil
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	m, _ := cg.a.Member(memberID)
	return m.Topics
}
