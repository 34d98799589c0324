package kafka

import (
	"context"

	"github.com/abd-ulbasit/goqueue/api"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// createPartitions grows topics; a topic of a cluster's metadata grows on
// every node, its new partitions placed as at creation (see clusterTopic).
func (s *Server) createPartitions(ctx context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	resp.SetVersion(req.Version)
	named := map[string]int{}
	for _, rt := range req.Topics {
		named[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		cluster := s.clusterTopic(rt.Topic)
		switch {
		case named[rt.Topic] > 1:
			// Kafka refuses a topic named twice rather than grow it
			// twice, by whichever entry came last.
			msg := "Duplicate topic in request."
			st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, &msg
		case len(rt.Assignment) > 0:
			msg := "GoQueue places every partition itself"
			st.ErrorCode, st.ErrorMessage = kerr.InvalidReplicaAssignment.Code, &msg
		case cluster && s.notGrowing(rt.Topic, rt.Count):
			msg := "the partition count can only increase"
			st.ErrorCode, st.ErrorMessage = kerr.InvalidPartitions.Code, &msg
		case req.ValidateOnly:
			// Checked as AddPartitions checks the change (its count and
			// the broker's --max-partitions): the answer is the one the
			// change itself would get.
			if err := s.b.CheckAddPartitions(rt.Topic, rt.Count); err != nil {
				st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			}
		case cluster:
			if err := s.opts.Cluster.AlterTopic(ctx, rt.Topic, api.AlterTopicRequest{Partitions: rt.Count}); err != nil {
				st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			}
		default:
			if _, err := s.b.AddPartitions(rt.Topic, rt.Count); err != nil {
				st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// notGrowing reports whether count is no more than a cluster topic's
// partitions as this node knows them.
func (s *Server) notGrowing(topic string, count int32) bool {
	parts, ok := s.clusterPlacement(topic)
	return ok && count <= int32(len(parts))
}
