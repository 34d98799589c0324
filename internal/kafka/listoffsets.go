package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Special timestamps of a ListOffsets request.
const (
	listLatest   = -1 // the high watermark
	listEarliest = -2 // the log start offset
)

// listOffsets answers, per partition, the earliest or latest offset or the
// first offset at or after a timestamp; a partition asked more than once
// is refused INVALID_REQUEST, as Kafka refuses it.
func (s *Server) listOffsets(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	resp.SetVersion(req.Version)
	type tp struct {
		topic     string
		partition int32
	}
	named := map[tp]int{}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			named[tp{rt.Topic, rp.Partition}]++
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		ti, terr := s.b.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition, sp.Timestamp, sp.Offset = rp.Partition, -1, -1
			epoch, lerr := s.led(rt.Topic, rp.Partition, rp.CurrentLeaderEpoch)
			sp.LeaderEpoch = epoch
			switch {
			case named[tp{rt.Topic, rp.Partition}] > 1:
				// Kafka refuses every entry of a partition asked twice:
				// which answer would count is not defined.
				sp.ErrorCode = kerr.InvalidRequest.Code
			case terr != nil:
				sp.ErrorCode = errorCode(terr)
			case rp.Partition < 0 || int(rp.Partition) >= len(ti.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case lerr != nil:
				sp.ErrorCode = errorCode(lerr) // NOT_LEADER: this node's copy is empty
			case rp.Timestamp == listLatest:
				sp.Offset = ti.Partitions[rp.Partition].HighWatermark
			case rp.Timestamp == listEarliest:
				sp.Offset = ti.Partitions[rp.Partition].EarliestOffset
			case rp.Timestamp < 0:
				sp.ErrorCode = kerr.UnsupportedVersion.Code // -3 (max timestamp) needs v7
			default:
				off, at, err := s.b.OffsetForTime(rt.Topic, rp.Partition, rp.Timestamp)
				if err != nil {
					sp.ErrorCode = errorCode(err)
					break
				}
				if at < 0 {
					// No record that new: offset and timestamp -1, as
					// Kafka answers (clients read it as none, e.g.
					// offsets_for_times' None; kgo and librdkafka then
					// take the end). It was the high watermark.
					break
				}
				sp.Offset, sp.Timestamp = off, at
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
