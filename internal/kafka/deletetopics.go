package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// deleteTopics deletes topics by name or (v6+) ID; a topic of a cluster's
// metadata is deleted on every node (see clusterTopic).
func (s *Server) deleteTopics(ctx context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
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
		name, err := s.topicByID(id)
		if err != nil {
			st.ErrorCode = kerr.UnknownTopicID.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.Topic = &name
		st.ErrorCode, st.ErrorMessage = s.deleteTopic(ctx, name)
		resp.Topics = append(resp.Topics, st)
	}
	for _, name := range names {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic = &name
		if ti, err := s.b.Topic(name); err == nil {
			st.TopicID = s.topicID(ti)
		}
		st.ErrorCode, st.ErrorMessage = s.deleteTopic(ctx, name)
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// deleteTopic deletes name and says how it went.
func (s *Server) deleteTopic(ctx context.Context, name string) (int16, *string) {
	del := s.b.DeleteTopic
	if s.clusterTopic(name) {
		del = func(name string) error { return s.opts.Cluster.DeleteTopic(ctx, name) }
	}
	if err := del(name); err != nil {
		return errorCode(err), errorMessage(err)
	}
	return 0, nil
}
