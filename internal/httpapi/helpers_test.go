package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

func createTopic(t *testing.T, s *brokertest.Server, name string, partitions int32) {
	t.Helper()
	var errBody api.ErrorBody
	if st := s.DoJSON("POST", "/topics", api.CreateTopicRequest{Name: name, Partitions: partitions}, &errBody); st != http.StatusCreated {
		t.Fatalf("create topic %s: %d %v", name, st, errBody.Error)
	}
}

func publish(t *testing.T, s *brokertest.Server, topic string, body any) api.PublishResponse {
	t.Helper()
	var resp api.PublishResponse
	status, raw := s.Do("POST", "/topics/"+topic+"/messages", body)
	if status != http.StatusOK {
		t.Fatalf("publish to %s: %d %s", topic, status, raw)
	}
	mustUnmarshal(t, raw, &resp)
	return resp
}

func fetch(t *testing.T, s *brokertest.Server, topic string, p int32, query string) api.FetchResponse {
	t.Helper()
	var resp api.FetchResponse
	status, raw := s.Do("GET", fmt.Sprintf("/topics/%s/partitions/%d/messages?%s", topic, p, query), nil)
	if status != http.StatusOK {
		t.Fatalf("fetch %s/%d?%s: %d %s", topic, p, query, status, raw)
	}
	mustUnmarshal(t, raw, &resp)
	return resp
}

func describe(t *testing.T, s *brokertest.Server, topic string) api.Topic {
	t.Helper()
	var tp api.Topic
	if st := s.DoJSON("GET", "/topics/"+topic, nil, &tp); st != http.StatusOK {
		t.Fatalf("describe %s: %d", topic, st)
	}
	return tp
}

// totalMessages is the sum of the high watermarks of a topic's partitions.
func totalMessages(t *testing.T, s *brokertest.Server, topic string) int64 {
	t.Helper()
	var n int64
	for _, p := range describe(t, s, topic).PartitionInfo {
		n += p.HighWatermark
	}
	return n
}

// wantError checks a coded error answer.
func wantError(t *testing.T, status int, raw []byte, want *api.Error) *api.Error {
	t.Helper()
	var body api.ErrorBody
	mustUnmarshal(t, raw, &body)
	if status != want.Status || body.Error == nil || body.Error.Code != want.Code {
		t.Fatalf("got %d %s, want %d %s", status, raw, want.Status, want.Code)
	}
	if body.Error.Message == "" {
		t.Fatalf("error %s has no message", body.Error.Code)
	}
	return body.Error
}

func mustUnmarshal(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %q: %v", raw, err)
	}
}
