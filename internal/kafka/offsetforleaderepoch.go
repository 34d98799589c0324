package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// leaderEpoch is the only leader epoch of a single broker's partitions.
const leaderEpoch = 0

// offsetForLeaderEpoch answers a consumer checking for log truncation: with
// one epoch, the end of epoch 0 is the high watermark of the partition's
// leader; in a cluster, another node answers NOT_LEADER_OR_FOLLOWER.
func (s *Server) offsetForLeaderEpoch(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	resp.SetVersion(req.Version)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		ti, terr := s.b.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition, sp.LeaderEpoch, sp.EndOffset = rp.Partition, -1, -1
			switch {
			case terr != nil:
				sp.ErrorCode = errorCode(terr)
			case rp.Partition < 0 || int(rp.Partition) >= len(ti.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case s.leads(rt.Topic, rp.Partition) != nil:
				// This node's copy is empty: its high watermark would tell a
				// consumer its log was truncated below what it consumed.
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			case rp.CurrentLeaderEpoch > leaderEpoch:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case rp.LeaderEpoch > leaderEpoch:
				// An epoch this log never had: Kafka answers undefined.
			default:
				sp.LeaderEpoch, sp.EndOffset = leaderEpoch, ti.Partitions[rp.Partition].HighWatermark
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
