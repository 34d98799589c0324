package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) deleteTopics(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	resp.SetVersion(req.Version)
	names := req.TopicNames
	var ids [][16]byte
	if req.Version >= 6 {
		names = nil
		for _, t := range req.Topics {
			if t.Topic != nil {
				names = append(names, *t.Topic)
				continue
			}
			ids = append(ids, t.TopicID)
		}
	}
	for _, id := range ids {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.TopicID = id
		name, err := s.b.TopicByID(id)
		if err != nil {
			st.ErrorCode = kerr.UnknownTopicID.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.Topic = &name
		if err := s.b.DeleteTopic(name); err != nil {
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	for _, name := range names {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic = &name
		if ti, err := s.b.Topic(name); err == nil {
			st.TopicID = ti.Config.ID()
		}
		if err := s.b.DeleteTopic(name); err != nil {
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
