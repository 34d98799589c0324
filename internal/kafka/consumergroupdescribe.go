package kafka

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// memberTypeConsumer is ConsumerGroupDescribe v1's member type of a member
// speaking ConsumerGroupHeartbeat (0 is a classic member).
const memberTypeConsumer = 1

// consumerGroupDescribe describes KIP-848 groups. As in Kafka, a group
// that is not one (unknown, classic, or run by HTTP members) is answered
// GROUP_ID_NOT_FOUND, with a message saying which.
func (s *Server) consumerGroupDescribe(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.ConsumerGroupDescribeRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	resp.SetVersion(req.Version)
	for _, id := range req.Groups {
		resp.Groups = append(resp.Groups, s.describeConsumerGroup(id, req.Version))
	}
	return resp, nil
}

func (s *Server) describeConsumerGroup(id string, version int16) kmsg.ConsumerGroupDescribeResponseGroup {
	dg := kmsg.NewConsumerGroupDescribeResponseGroup()
	dg.Group = id
	fail := func(err error) kmsg.ConsumerGroupDescribeResponseGroup {
		dg.ErrorCode, dg.ErrorMessage = kerr.GroupIDNotFound.Code, errorMessage(err)
		dg.State = kafkaGroupState(api.GroupStateDead)
		return dg
	}
	if code := s.notCoordinator(id); code != 0 {
		dg.ErrorCode = code
		return dg
	}
	if s.groups.live(id) {
		return fail(fmt.Errorf("group %s is not a consumer group: it has classic Kafka members (use DescribeGroups)", id))
	}
	d, err := s.b.DescribeGroup(id)
	proto, perr := s.b.GroupProtocol(id)
	switch {
	case err != nil || perr != nil:
		return fail(fmt.Errorf("group %s not found", id))
	case proto != broker.ProtocolConsumer:
		return fail(fmt.Errorf("group %s is not a consumer group: it has HTTP members (GET /groups/%s)", id, id))
	}
	dg.State = kafkaGroupState(d.State)
	// The coordinator computes a group's target in the same step that bumps
	// its epoch, so the target is always of the group's epoch.
	dg.Epoch, dg.AssignmentEpoch, dg.AssignorName = int32(d.Generation), int32(d.Generation), d.Assignor
	for _, m := range d.Members {
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.MemberEpoch = m.MemberID, int32(m.Generation)
		if m.InstanceID != "" {
			iid := m.InstanceID
			dm.InstanceID = &iid
		}
		dm.ClientID, dm.ClientHost = m.ClientID, m.ClientHost
		dm.SubscribedTopics = slices.Sorted(slices.Values(m.Topics))
		if m.TopicRegex != "" {
			re := m.TopicRegex
			dm.SubscribedTopicRegex = &re
		}
		// Assignment is what the member was told it owns, as in Kafka
		// without the partitions it is still releasing; the target is its
		// share once the group settles.
		dm.Assignment, dm.TargetAssignment = s.topicPartitions(m.Assigned), s.topicPartitions(m.Target)
		if version >= 1 {
			dm.MemberType = memberTypeConsumer
		}
		dg.Members = append(dg.Members, dm)
	}
	return dg
}

// topicPartitions is an assignment in ConsumerGroupDescribe's shape, topics
// by ID and name, sorted.
func (s *Server) topicPartitions(a broker.Assignment) kmsg.Assignment {
	out := kmsg.NewAssignment()
	out.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	for _, name := range slices.Sorted(mapKeys(a)) {
		ti, err := s.b.Topic(name)
		if err != nil {
			continue // deleted since it was assigned
		}
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID, tp.Topic, tp.Partitions = s.topicID(ti), name, slices.Sorted(slices.Values(a[name]))
		out.TopicPartitions = append(out.TopicPartitions, tp)
	}
	return out
}

// kafkaGroupState is a coordinator state as KIP-848 spells it.
func kafkaGroupState(s string) string {
	switch s {
	case api.GroupStateEmpty:
		return "Empty"
	case api.GroupStateReconciling:
		return "Reconciling"
	case api.GroupStateStable:
		return "Stable"
	case api.GroupStateDead:
		return "Dead"
	}
	return s
}
