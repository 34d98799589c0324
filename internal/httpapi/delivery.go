package httpapi

import (
	"net/http"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

func (s *Server) poll(w http.ResponseWriter, r *http.Request) error {
	var req api.PollRequest
	id, err := s.decodeGroupRequest(w, r, &req)
	if err != nil {
		return err
	}
	req.WaitMS = min(req.WaitMS, s.opts.MaxWait.Milliseconds())
	got, err := s.b.Poll(r.Context(), id, req, peerHost(r))
	if err != nil {
		return err
	}
	resp := api.PollResponse{Messages: make([]api.Message, len(got))}
	for i := range got {
		d := &got[i]
		resp.Messages[i] = encodeRecord(d.Topic, d.Partition, &d.Record)
		resp.Messages[i].DeliveryCount = d.DeliveryCount
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// settle serves /ack, /nack and /extend: op is the broker method. A partial
// failure is the first failure's error, with the per-message result in its
// details; the successes are applied either way.
func (s *Server) settle(op func(*broker.Broker, string, api.AckRequest, string) (api.AckResponse, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req api.AckRequest
		id, err := s.decodeGroupRequest(w, r, &req)
		if err != nil {
			return err
		}
		resp, err := op(s.b, id, req, peerHost(r))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, resp)
		return nil
	}
}

func (s *Server) replayDLQ(w http.ResponseWriter, r *http.Request) error {
	name, err := topicParam(r)
	if err != nil {
		return err
	}
	body, err := readBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		return err
	}
	var req api.DLQReplayRequest
	if len(body) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			return err
		}
	}
	resp, err := s.b.ReplayDLQ(name, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// groupRoutes is the consumer-group part of the route table.
func (s *Server) groupRoutes() []route {
	return []route{
		{"POST /groups/{group}/join", s.joinGroup},
		{"POST /groups/{group}/heartbeat", s.heartbeat},
		{"POST /groups/{group}/leave", s.leaveGroup},
		{"POST /groups/{group}/poll", s.poll},
		{"POST /groups/{group}/ack", s.settle((*broker.Broker).Ack)},
		{"POST /groups/{group}/nack", s.settle((*broker.Broker).Nack)},
		{"POST /groups/{group}/extend", s.settle((*broker.Broker).Extend)},
		{"POST /groups/{group}/offsets", s.commitOffsets},
		{"GET /groups/{group}/offsets", s.groupOffsets},
		{"POST /groups/{group}/offsets/reset", s.resetOffsets},
		{"DELETE /groups/{group}", s.deleteGroup},
		{"GET /groups", s.listGroups},
		{"GET /groups/{group}", s.describeGroup},
		{"POST /topics/{topic}/dlq/replay", s.replayDLQ},
	}
}
