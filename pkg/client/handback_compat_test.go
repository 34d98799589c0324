package client_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// A broker older than the nack's release field refuses it (BAD_REQUEST):
// the consumer then hands the message back with a plain nack rather than
// failing its polls or keeping the message.
func TestHandBackFallsBackOnOlderBrokers(t *testing.T) {
	var (
		mu       sync.Mutex
		beats    int
		refused  int
		plain    []api.AckRequest
		answered bool
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/join"):
			json.NewEncoder(w).Encode(api.JoinResponse{MemberID: "m", Generation: 1, AssignedPartitions: api.Assignment{"orders": {0, 1}}, HeartbeatIntervalMS: 5, SessionTimeoutMS: 30000})
		case strings.HasSuffix(r.URL.Path, "/heartbeat"):
			beats++ // partition 0 is revoked; nothing is held on it, so it is released at once
			json.NewEncoder(w).Encode(api.HeartbeatResponse{Generation: 1, AssignedPartitions: api.Assignment{"orders": {1}}, HeartbeatIntervalMS: 5})
		case strings.HasSuffix(r.URL.Path, "/poll"):
			resp := api.PollResponse{Messages: []api.Message{}}
			if beats >= 2 && !answered { // a poll answer that crossed the release of partition 0
				answered = true
				resp.Messages = append(resp.Messages, api.Message{Topic: "orders", Partition: 0, Offset: 7, Value: json.RawMessage(`"x"`), DeliveryCount: 1})
			}
			json.NewEncoder(w).Encode(resp)
		case strings.HasSuffix(r.URL.Path, "/nack"):
			var req map[string]any
			json.Unmarshal(body, &req)
			if _, ok := req["release"]; ok {
				refused++
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": "BAD_REQUEST", "message": `unknown field "release"`}})
				return
			}
			var ack api.AckRequest
			json.Unmarshal(body, &ack)
			plain = append(plain, ack)
			json.NewEncoder(w).Encode(api.AckResponse{Succeeded: 1})
		default:
			json.NewEncoder(w).Encode(api.AckResponse{})
		}
	}))
	defer srv.Close()
	cons := newConsumer(t, client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}, PollWait: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	testkit.Eventually(t, 10*time.Second, func() bool {
		msgs, err := cons.Poll(ctx, 10)
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		if len(msgs) != 0 {
			t.Fatalf("poll handed out %+v of a released partition", msgs[0])
		}
		mu.Lock()
		defer mu.Unlock()
		return len(plain) > 0
	}, "a plain nack after the refused release")
	mu.Lock()
	defer mu.Unlock()
	r := plain[0]
	if refused != 1 || len(r.Ranges) != 1 || r.Ranges[0] != (api.OffsetRange{Topic: "orders", Partition: 0, From: 7, To: 8}) || r.Release {
		t.Fatalf("refused %d release nacks, then sent %+v; want one refusal, then a plain nack of orders/0@7", refused, r)
	}
}
