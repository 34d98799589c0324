package kafka

import (
	"context"
	"errors"
	"slices"
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

// consumerGroupHeartbeat maps KIP-848's heartbeat onto the broker's own
// coordinator, which already works that way: epoch 0 joins, a positive
// epoch heartbeats with the partitions the member owns (nil: as last
// time), a negative one leaves. The member epoch is the coordinator's
// per-member generation; the assignment is what the member may own now,
// so a partition moving between members reaches the new one only after the
// old one released it. Every server-side assignor name maps to
// cooperative-sticky, the coordinator's incremental assignor. These groups
// are the HTTP API's groups: they show in GET /groups/{id} like any.
func (s *Server) consumerGroupHeartbeat(_ context.Context, c *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.ConsumerGroupHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.SetVersion(req.Version)
	fail := func(code int16, err error) (kmsg.Response, error) {
		resp.ErrorCode, resp.ErrorMessage = code, errorMessage(err)
		return resp, nil
	}
	switch {
	case req.Group == "":
		return fail(kerr.InvalidRequest.Code, errors.New("group is empty"))
	case req.SubscribedTopicRegex != nil:
		return fail(kerr.InvalidRequest.Code, errors.New("subscription by regex is not offered; name the topics"))
	}
	switch req.MemberEpoch {
	case epochLeave, epochStaticLeave:
		// As in Kafka, leaving is answered UNKNOWN_MEMBER_ID by a group
		// without the member and GROUP_ID_NOT_FOUND by no group: the
		// client learns that it was not a member (any more).
		if err := s.b.LeaveGroup(req.Group, req.MemberID); err != nil {
			return fail(heartbeatCode(err), err)
		}
		resp.MemberID, resp.MemberEpoch = &req.MemberID, req.MemberEpoch
		return resp, nil
	case epochJoin:
		jr := broker.JoinParams{MemberID: req.MemberID, Topics: req.SubscribedTopicNames,
			RebalanceTimeout: time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond, Assignor: api.AssignorCooperativeSticky, ClientID: c.client}
		if req.InstanceID != nil {
			jr.InstanceID = *req.InstanceID
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
		resp.HeartbeatIntervalMillis = int32(res.HeartbeatInterval.Milliseconds())
		resp.Assignment = s.assignment(res.Assigned)
		return resp, nil
	}
	hr := broker.HeartbeatParams{MemberID: req.MemberID, Generation: int64(req.MemberEpoch)}
	if req.Topics != nil {
		hr.Owned = broker.Assignment{}
		for _, t := range req.Topics {
			name, err := s.b.TopicByID(t.TopicID)
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
	resp.HeartbeatIntervalMillis = int32(res.HeartbeatInterval.Milliseconds())
	resp.Assignment = s.assignment(res.Assigned)
	return resp, nil
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
	return errorCode(err)
}

// assignment names an assignment's topics by ID, as KIP-848 does. The full
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
		t.TopicID, t.Partitions = ti.Config.ID(), a[name]
		out.Topics = append(out.Topics, t)
	}
	return &out
}
