package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// member is one consumer of a wire test, driving the group protocol by hand
// as a client would (the behaviour itself is the conformance suite's): it owns what the broker last told it, and reports it.
type member struct {
	t     *testing.T
	s     *brokertest.Server
	group string
	id    string
	gen   int64
	owned api.Assignment
}

// join joins group with req (its member ID and topics set by the caller).
func join(t *testing.T, s *brokertest.Server, group string, req api.JoinRequest) *member {
	t.Helper()
	var resp api.JoinResponse
	status, raw := s.Do("POST", "/groups/"+group+"/join", req)
	if status != http.StatusOK {
		t.Fatalf("join %s as %q: %d %s", group, req.MemberID, status, raw)
	}
	mustUnmarshal(t, raw, &resp)
	return &member{t: t, s: s, group: group, id: resp.MemberID, gen: resp.Generation, owned: resp.AssignedPartitions}
}

// heartbeat reports what m owns and takes what the broker answers: m then
// owns exactly the assigned partitions (it releases the revoked ones at
// once, as a client that committed them would).
func (m *member) heartbeat() api.HeartbeatResponse {
	m.t.Helper()
	var resp api.HeartbeatResponse
	status, raw := m.s.Do("POST", "/groups/"+m.group+"/heartbeat",
		api.HeartbeatRequest{MemberID: m.id, Generation: m.gen, OwnedPartitions: m.owned})
	if status != http.StatusOK {
		m.t.Fatalf("heartbeat of %s: %d %s", m.id, status, raw)
	}
	mustUnmarshal(m.t, raw, &resp)
	m.gen, m.owned = resp.Generation, resp.AssignedPartitions
	return resp
}

func (m *member) poll(max int, wait time.Duration) []api.Message {
	m.t.Helper()
	var resp api.PollResponse
	status, raw := m.s.Do("POST", "/groups/"+m.group+"/poll",
		api.PollRequest{MemberID: m.id, Generation: m.gen, MaxMessages: max, WaitMS: wait.Milliseconds()})
	if status != http.StatusOK {
		m.t.Fatalf("poll of %s: %d %s", m.id, status, raw)
	}
	mustUnmarshal(m.t, raw, &resp)
	return resp.Messages
}

// settle sends msgs to /ack, /nack or /extend (op) and returns the status
// and the per-message result.
func (m *member) settle(op string, req api.AckRequest, msgs ...api.Message) (int, api.AckResponse) {
	m.t.Helper()
	req.MemberID, req.Generation = m.id, m.gen
	for _, msg := range msgs {
		req.Messages = append(req.Messages, api.MessageRef{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset})
	}
	status, raw := m.s.Do("POST", "/groups/"+m.group+"/"+op, req)
	var resp api.AckResponse
	if status == http.StatusOK {
		mustUnmarshal(m.t, raw, &resp)
		return status, resp
	}
	var body api.ErrorBody
	mustUnmarshal(m.t, raw, &body)
	if body.Error == nil {
		m.t.Fatalf("%s: %d %s", op, status, raw)
	}
	if r, ok := body.Error.Details["result"]; ok {
		j, _ := json.Marshal(r)
		mustUnmarshal(m.t, j, &resp)
	} else {
		resp.Failed = []api.MessageErr{{Error: body.Error}}
	}
	return status, resp
}

func describeGroup(t *testing.T, s *brokertest.Server, group string) api.GroupDescription {
	t.Helper()
	var d api.GroupDescription
	status, raw := s.Do("GET", "/groups/"+group, nil)
	if status != http.StatusOK {
		t.Fatalf("describe group %s: %d %s", group, status, raw)
	}
	mustUnmarshal(t, raw, &d)
	return d
}

// publishSpread publishes n messages "m<i>" round-robin over the topic.
func publishSpread(t *testing.T, s *brokertest.Server, topic string, n int) {
	t.Helper()
	msgs := make([]map[string]any, n)
	for i := range msgs {
		msgs[i] = map[string]any{"value": fmt.Sprintf("m%d", i)}
	}
	publish(t, s, topic, map[string]any{"messages": msgs})
}

// refs returns "topic/partition/offset" of msgs, sorted.
func refs(msgs []api.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset)
	}
	slices.Sort(out)
	return out
}
