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
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		cluster := s.clusterTopic(rt.Topic)
		switch {
		case len(rt.Assignment) > 0:
			msg := "GoQueue places every partition itself"
			st.ErrorCode, st.ErrorMessage = kerr.InvalidReplicaAssignment.Code, &msg
		case req.ValidateOnly:
			if ti, err := s.b.Topic(rt.Topic); err != nil {
				st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			} else if rt.Count <= ti.Config.Partitions {
				msg := "the partition count can only increase"
				st.ErrorCode, st.ErrorMessage = kerr.InvalidPartitions.Code, &msg
			}
		case cluster && s.notGrowing(rt.Topic, rt.Count):
			msg := "the partition count can only increase"
			st.ErrorCode, st.ErrorMessage = kerr.InvalidPartitions.Code, &msg
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
