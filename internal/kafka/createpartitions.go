package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) createPartitions(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	resp.SetVersion(req.Version)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		refused, why := s.refuseClusterChange(rt.Topic, "adding partitions")
		switch {
		case refused != 0:
			st.ErrorCode, st.ErrorMessage = refused, why
		case len(rt.Assignment) > 0:
			msg := "a single GoQueue broker places every partition itself"
			st.ErrorCode, st.ErrorMessage = kerr.InvalidReplicaAssignment.Code, &msg
		case req.ValidateOnly:
			if ti, err := s.b.Topic(rt.Topic); err != nil {
				st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			} else if rt.Count <= ti.Config.Partitions {
				msg := "the partition count can only increase"
				st.ErrorCode, st.ErrorMessage = kerr.InvalidPartitions.Code, &msg
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
