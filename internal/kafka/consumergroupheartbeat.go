package kafka

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// KIP-848 member epochs with a meaning of their own.
const (
	epochJoin        = 0
	epochLeave       = -1
	epochStaticLeave = -2
)

// serverAssignors are the server-side assignor names a KIP-848 member may
// ask for: Kafka's own (group.consumer.assignors), both served by the
// coordinator's incremental assignor, cooperative-sticky. Its eager
// assignors (range, roundrobin, sticky) would add a barrier that KIP-848's
// reconciliation has no place for, so Kafka's "range" is served
// incrementally too: the layout differs, the protocol does not.
var serverAssignors = []string{"uniform", "range"}

// consumerGroupHeartbeat maps KIP-848's heartbeat onto the broker's own
// coordinator, which already works that way: epoch 0 joins, a positive
// epoch heartbeats with the partitions the member owns (nil: as last
// time) and its subscription (nil: as last time), -1 leaves for good and -2 leaves a static member's place reserved
// until its session timeout. The member epoch is the coordinator's
// per-member generation; the assignment is what the member may own now,
// so a partition moving between members reaches the new one only after the
// old one released it. A member may subscribe to topics that do not exist
// yet: it is assigned their partitions once they are created. These groups
// are the HTTP API's groups: they show in GET /groups/{id} like any.
func (s *Server) consumerGroupHeartbeat(_ context.Context, c *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.ConsumerGroupHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.SetVersion(req.Version)
	fail := func(code int16, err error) (kmsg.Response, error) {
		resp.ErrorCode, resp.ErrorMessage = code, errorMessage(err)
		return resp, nil
	}
	if code, err := checkHeartbeat(req); err != nil {
		return fail(code, err)
	}
	if code := s.notCoordinator(req.Group); code != 0 {
		return fail(code, nil)
	}
	switch req.MemberEpoch {
	case epochLeave, epochStaticLeave:
		// As in Kafka, leaving is answered UNKNOWN_MEMBER_ID by a group
		// without the member and GROUP_ID_NOT_FOUND by no group: the
		// client learns that it was not a member (any more).
		leave := s.b.LeaveGroupForGood
		if req.MemberEpoch == epochStaticLeave {
			if code, err := s.checkStaticLeave(req.Group, req.MemberID, *req.InstanceID); err != nil {
				return fail(code, err)
			}
			leave = s.b.LeaveGroup // a static member keeps its place
		}
		if err := leave(req.Group, req.MemberID); err != nil {
			return fail(heartbeatCode(err), err)
		}
		resp.MemberID, resp.MemberEpoch = &req.MemberID, req.MemberEpoch
		return resp, nil
	case epochJoin:
		_, _, maxRebalance := s.timeoutBounds() // cut, not refused: as a classic join's
		jr := broker.JoinParams{MemberID: req.MemberID, Topics: req.SubscribedTopicNames,
			RebalanceTimeout: min(time.Duration(req.RebalanceTimeoutMillis)*time.Millisecond, maxRebalance),
			Assignor:         api.AssignorCooperativeSticky, ClientID: c.client}
		if req.InstanceID != nil {
			jr.InstanceID = *req.InstanceID
		}
		if req.SubscribedTopicRegex != nil {
			jr.TopicRegex = *req.SubscribedTopicRegex
		}
		res, err := s.b.JoinConsumerGroup(req.Group, jr, c.host)
		if errors.Is(err, api.ErrUnknownMember) {
			jr.MemberID = "" // a member the coordinator never saw: it names it
			res, err = s.b.JoinConsumerGroup(req.Group, jr, c.host)
		}
		if err != nil {
			return fail(heartbeatCode(err), err)
		}
		resp.MemberID, resp.MemberEpoch = &res.MemberID, int32(res.Generation)
		resp.HeartbeatIntervalMillis = s.interval848(req.Group, res.HeartbeatInterval)
		resp.Assignment = s.assignment(res.Assigned)
		return resp, nil
	}
	switch {
	case req.SubscribedTopicRegex != nil:
		// A regex (null: as before) is the member's subscription from now
		// on; the same one again changes nothing.
		if err := s.b.SubscribeConsumerGroup(req.Group, req.MemberID, int64(req.MemberEpoch), nil, *req.SubscribedTopicRegex); err != nil {
			return fail(heartbeatCode(err), err)
		}
	case req.SubscribedTopicNames != nil:
		// New topic names (null: as before) change the member's
		// subscription in place; the heartbeat below answers the
		// assignment it leads to. The member's own topics, sorted, are
		// compared first to skip the group's lock for the full heartbeats
		// that name the same ones.
		want := slices.Compact(slices.Sorted(slices.Values(req.SubscribedTopicNames)))
		if !slices.Equal(want, s.b.MemberTopics(req.Group, req.MemberID)) {
			if len(want) == 0 {
				return fail(kerr.InvalidRequest.Code, api.ErrInvalidArgument.Withf("SubscribedTopicNames can't be empty"))
			}
			if err := s.b.SubscribeConsumerGroup(req.Group, req.MemberID, int64(req.MemberEpoch), req.SubscribedTopicNames, ""); err != nil {
				return fail(heartbeatCode(err), err)
			}
		}
	}
	hr := broker.HeartbeatParams{MemberID: req.MemberID, Generation: int64(req.MemberEpoch)}
	if req.Topics != nil {
		hr.Owned = broker.Assignment{}
		for _, t := range req.Topics {
			name, err := s.topicByID(t.TopicID)
			if err != nil {
				continue // deleted since it was assigned: nothing to own
			}
			hr.Owned[name] = t.Partitions
		}
	}
	res, err := s.b.Heartbeat(req.Group, hr, c.host)
	if err != nil {
		return fail(heartbeatCode(err), err)
	}
	resp.MemberID, resp.MemberEpoch = &req.MemberID, int32(res.Generation)
	resp.HeartbeatIntervalMillis = s.interval848(req.Group, res.HeartbeatInterval)
	resp.Assignment = s.assignment(res.Assigned)
	return resp, nil
}

// A KIP-848 member learns of a change of its assignment only when it
// heartbeats: a partition moving from one member to another waits for the
// owner's next heartbeat (told to release it), then for the new member's
// (told to take it). At the broker's --heartbeat-interval (10 s, the HTTP
// members' default, who are told at once on their polls) that took 10–20
// s. Members are told Kafka's own interval for this protocol
// (group.consumer.heartbeat.interval.ms, 5 s), and while partitions are
// on their way between members, reconcileInterval: the member released a
// partition and the one waiting for it heartbeat again within it.
const (
	kip848Interval    = 5 * time.Second
	reconcileInterval = 500 * time.Millisecond
)

// interval848 is the heartbeat interval a member of group is told: at
// most told (the coordinator's, bounded by the session timeout).
func (s *Server) interval848(group string, told time.Duration) int32 {
	d := min(told, kip848Interval)
	if !s.b.GroupSettled(group) {
		d = min(d, reconcileInterval)
	}
	return int32(d.Milliseconds())
}

// checkHeartbeat refuses what Kafka's coordinator refuses before it looks
// at the group, with Kafka's code: a missing or malformed field is
// INVALID_REQUEST (said as INVALID_ARGUMENT, or STALE_GENERATION for an
// epoch no member can have), a regex that does not compile
// INVALID_REGULAR_EXPRESSION, a server assignor the broker does not have
// UNSUPPORTED_ASSIGNOR (INVALID_ASSIGNOR). A first heartbeat (epoch 0)
// must name its rebalance timeout (-1 says "as before", and a join has no
// before), own nothing yet and name the topics it subscribes to, which need
// not exist yet; -2, a static member's leave, must name the instance.
// An empty ServerAssignor, which franz-go sends when its balancer has no
// server-side twin, asks for none, as a null one does.
func checkHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (int16, error) {
	invalid := kerr.InvalidRequest.Code
	blank := func(s *string) bool { return s != nil && strings.TrimSpace(*s) == "" }
	bad := api.ErrInvalidArgument
	switch {
	case strings.TrimSpace(req.Group) == "":
		return invalid, bad.Withf("GroupId can't be empty")
	case (req.Version >= 1 || req.MemberEpoch > 0 || req.MemberEpoch == epochLeave) && strings.TrimSpace(req.MemberID) == "":
		return invalid, bad.Withf("MemberId can't be empty") // from v1 on, the client names itself
	case blank(req.InstanceID):
		return invalid, bad.Withf("InstanceId can't be empty")
	case blank(req.RackID):
		return invalid, bad.Withf("RackId can't be empty")
	case req.SubscribedTopicNames != nil && req.SubscribedTopicRegex != nil:
		return invalid, bad.Withf("SubscribedTopicNames and SubscribedTopicRegex can't both be set")
	}
	if re := req.SubscribedTopicRegex; re != nil {
		if strings.TrimSpace(*re) == "" {
			return invalid, bad.Withf("SubscribedTopicRegex can't be empty")
		}
		if _, err := regexp.Compile(*re); err != nil {
			return kerr.InvalidRegularExpression.Code, bad.Withf("SubscribedTopicRegex %q: %v", *re, err)
		}
	}
	switch {
	case req.MemberEpoch == epochJoin:
		switch {
		case req.RebalanceTimeoutMillis == -1:
			return invalid, bad.Withf("RebalanceTimeoutMs must be provided in first request")
		case req.RebalanceTimeoutMillis < 0:
			return invalid, bad.Withf("RebalanceTimeoutMs %d is negative", req.RebalanceTimeoutMillis)
		case req.Topics == nil || len(req.Topics) > 0:
			return invalid, bad.Withf("TopicPartitions must be empty when (re-)joining")
		case len(req.SubscribedTopicNames) == 0 && req.SubscribedTopicRegex == nil:
			// Kafka 4 lets a member join subscribed to no topic names; the
			// coordinator's members subscribe to something, as Kafka 3's.
			return invalid, bad.Withf("SubscribedTopicNames or SubscribedTopicRegex must be set in first request")
		}
	case req.MemberEpoch == epochStaticLeave && req.InstanceID == nil:
		return invalid, bad.Withf("InstanceId can't be null when a static member leaves (epoch -2)")
	case req.MemberEpoch < epochStaticLeave:
		return invalid, api.ErrStaleGeneration.Withf("MemberEpoch %d is invalid", req.MemberEpoch)
	}
	if a := req.ServerAssignor; a != nil && *a != "" && !slices.Contains(serverAssignors, *a) {
		return errorCode(api.ErrInvalidAssignor), api.ErrInvalidAssignor.Withf("ServerAssignor %q is not supported; supported assignors: %s", *a, strings.Join(serverAssignors, ", ")).
			WithDetail("allowed", serverAssignors)
	}
	return 0, nil
}

// heartbeatCode is the Kafka code of a coordinator error in KIP-848's terms.
func heartbeatCode(err error) int16 {
	switch {
	case errors.Is(err, api.ErrStaleGeneration), errors.Is(err, api.ErrFencedMember):
		return kerr.FencedMemberEpoch.Code
	case errors.Is(err, api.ErrDuplicateInstance):
		return kerr.UnreleasedInstanceID.Code
	case errors.Is(err, api.ErrInconsistentProtocol):
		return kerr.InconsistentGroupProtocol.Code
	}
	return groupCode(err)
}

// assignment names an assignment's topics by ID, as KIP-848 does (in a
// cluster, the metadata's IDs, which Metadata answers with). The full
// assignment goes out on every answer; clients take it as it stands.
func (s *Server) assignment(a broker.Assignment) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	out := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
	out.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	for _, name := range slices.Sorted(mapKeys(a)) {
		ti, err := s.b.Topic(name)
		if err != nil {
			continue
		}
		t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		t.TopicID, t.Partitions = s.topicID(ti), a[name]
		out.Topics = append(out.Topics, t)
	}
	return &out
}

// checkStaticLeave refuses a static member's leave (epoch -2) that does
// not come from the member holding the instance, as Kafka does: no member
// of the group has the instance (UNKNOWN_MEMBER_ID), or another member
// does, a newer incarnation that took the instance over
// (FENCED_INSTANCE_ID) and whose place must not be reserved on the old
// one's word. A group that does not exist is left to the leave to
// answer.
func (s *Server) checkStaticLeave(group, memberID, instanceID string) (int16, error) {
	d, err := s.b.DescribeGroup(group)
	if err != nil {
		return 0, nil
	}
	for _, m := range d.Members {
		switch {
		case m.InstanceID != instanceID:
		case m.MemberID != memberID:
			return kerr.FencedInstanceID.Code, api.ErrFencedMember.Withf("instance %s of group %s is member %s, not %s", instanceID, group, m.MemberID, memberID)
		default:
			return 0, nil
		}
	}
	return kerr.UnknownMemberID.Code, api.ErrUnknownMember.Withf("no member of group %s has instance %s", group, instanceID)
}
