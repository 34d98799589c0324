package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// offsetForLeaderEpoch answers a consumer checking for log truncation
// after a leader change: where the epoch it last read in ends. Only the
// partition's leader answers (another node's copy is empty); the epoch
// asked is checked as Fetch checks it (led). A GoQueue log never loses an
// entry once it is committed, and consumers read only committed ones, so
// as far as a consumer can tell every epoch up to the current one ends at
// the high watermark: that is the end offset given for it (Kafka gives
// the start of the next epoch, which the partition's log does not keep),
// and an epoch after the current one is undefined.
func (s *Server) offsetForLeaderEpoch(ctx context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
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
			epoch, lerr := s.led(rt.Topic, rp.Partition, rp.CurrentLeaderEpoch)
			switch {
			case terr != nil:
				sp.ErrorCode = errorCode(terr)
			case rp.Partition < 0 || int(rp.Partition) >= len(ti.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case lerr != nil:
				sp.ErrorCode = errorCode(lerr)
			case epoch < 0:
				sp.ErrorCode = kerr.LeaderNotAvailable.Code // elected, its term not known here yet
			case rp.LeaderEpoch > epoch:
				// An epoch this log never had: Kafka answers undefined.
			default:
				// The high watermark once this copy has everything
				// committed (caughtUp), not ti's, read before.
				var hwm int64
				err := s.caughtUp(ctx, rt.Topic, rp.Partition)
				if err == nil {
					_, hwm, err = s.b.PartitionBounds(rt.Topic, rp.Partition)
				}
				if err != nil {
					sp.ErrorCode = errorCode(err)
					break
				}
				sp.LeaderEpoch, sp.EndOffset = rp.LeaderEpoch, hwm
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
