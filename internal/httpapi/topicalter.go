package httpapi

import (
	"net/http"

	"github.com/abd-ulbasit/goqueue/api"
)

// alterTopic is PATCH /topics/{topic}: change settings after creation.
func (s *Server) alterTopic(w http.ResponseWriter, r *http.Request) error {
	name, err := topicParam(r)
	if err != nil {
		return err
	}
	body, err := readBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		return err
	}
	var req api.AlterTopicRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	req = withBrokerDefaults(req, s.b.Config())
	change, err := topicChange(req)
	if err != nil {
		return err
	}
	if s.clusterTopic(name) {
		return s.alterClusterTopic(w, r, name, req)
	}
	info, err := s.b.AlterTopic(name, change)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireTopic(info))
	return nil
}
