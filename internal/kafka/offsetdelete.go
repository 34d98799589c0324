package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// offsetDelete forgets a group's committed offsets of the partitions
// named (kafka-consumer-groups --delete-offsets, kadm's DeleteOffsets), as
// POST /groups/{g}/offsets/reset with "to": "delete" does: for a group
// without members. A group with members answers GROUP_SUBSCRIBED_TO_TOPIC
// for every partition named (Kafka answers it only for the topics its
// members subscribe to, and deletes the others' offsets).
func (s *Server) offsetDelete(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	resp.SetVersion(req.Version)
	if resp.ErrorCode = s.notCoordinator(req.Group); resp.ErrorCode != 0 {
		return resp, nil
	}
	if _, err := s.b.DescribeGroup(req.Group); err != nil {
		resp.ErrorCode = errorCode(err) // GROUP_ID_NOT_FOUND
		return resp, nil
	}
	busy := s.groups.live(req.Group)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		var code int16
		if !busy {
			_, err := s.b.ResetOffsets(req.Group, broker.ResetParams{To: broker.ResetDelete, Topics: []string{rt.Topic}, Partitions: partitionsOf(rt.Partitions)})
			code = errorCode(err)
			if code == kerr.NonEmptyGroup.Code {
				busy = true // members joined over HTTP meanwhile, or are there
			}
		}
		if busy {
			code = kerr.GroupSubscribedToTopic.Code
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func partitionsOf(ps []kmsg.OffsetDeleteRequestTopicPartition) []int32 {
	out := make([]int32, len(ps))
	for i, p := range ps {
		out[i] = p.Partition
	}
	return out
}
