package client_test

import (
	"bytes"
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
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// requestCounter counts, in front of a broker, the acks sent on their own
// and the polls that carry acks.
type requestCounter struct {
	mu                  sync.Mutex
	acks, pollsWithAcks int
}

func (rc *requestCounter) proxy(t *testing.T, target string) *httptest.Server {
	return frontProxy(t, target, func(r *http.Request, body []byte) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/ack"):
			rc.acks++
		case strings.HasSuffix(r.URL.Path, "/poll") && bytes.Contains(body, []byte(`"acks"`)):
			rc.pollsWithAcks++
		}
	})
}

// While the consumer polls ahead, its acknowledgements ride on the polls:
// a round is one request. Every message is read once and the group ends
// with no lag.
func TestAcksRideOnPolls(t *testing.T) {
	srv, admin := setup(t, "orders", 2)
	const n = 2000
	produce(t, srv.URL, "orders", n)
	var rc requestCounter
	front := rc.proxy(t, srv.URL)
	cons := newPollingConsumer(t, client.ConsumerConfig{Brokers: []string{front.URL}, GroupID: "g", Topics: []string{"orders"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := make(map[string]bool)
	for len(seen) < n {
		msgs, err := cons.Poll(ctx, 100)
		if err != nil {
			t.Fatalf("poll after %d messages: %v", len(seen), err)
		}
		for _, m := range msgs {
			k := string(m.Key)
			if seen[k] {
				t.Fatalf("message %s delivered twice", k)
			}
			seen[k] = true
			if err := cons.Ack(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cons.CommitContext(ctx); err != nil {
		t.Fatal(err)
	}
	waitLag(t, admin, "g")
	rc.mu.Lock()
	defer rc.mu.Unlock()
	t.Logf("%d polls carried acks; %d acks went on their own", rc.pollsWithAcks, rc.acks)
	if rc.pollsWithAcks == 0 {
		t.Fatalf("no poll carried acks (%d ack requests)", rc.acks)
	}
}

// A broker older than acks on polls refuses the field (BAD_REQUEST): the
// consumer sends those acks on their own and stops putting acks on polls,
// and no acknowledgement is lost.
func TestPollAcksFallBackOnOlderBrokers(t *testing.T) {
	const total = 30
	var (
		mu      sync.Mutex
		next    int64
		refused int
		acked   = make(map[int64]bool)
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/join"):
			json.NewEncoder(w).Encode(api.JoinResponse{MemberID: "m", Generation: 1, AssignedPartitions: api.Assignment{"orders": {0}}, HeartbeatIntervalMS: 1000, SessionTimeoutMS: 30000})
		case strings.HasSuffix(r.URL.Path, "/heartbeat"):
			json.NewEncoder(w).Encode(api.HeartbeatResponse{Generation: 1, AssignedPartitions: api.Assignment{"orders": {0}}, HeartbeatIntervalMS: 1000})
		case strings.HasSuffix(r.URL.Path, "/poll"):
			if bytes.Contains(body, []byte(`"acks"`)) {
				refused++
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": "BAD_REQUEST", "message": `unknown field "acks"`}})
				return
			}
			resp := api.PollResponse{Messages: []api.Message{}}
			for i := 0; i < 10 && next < total; i++ {
				resp.Messages = append(resp.Messages, api.Message{Topic: "orders", Partition: 0, Offset: next, Value: json.RawMessage(`"x"`), DeliveryCount: 1})
				next++
			}
			json.NewEncoder(w).Encode(resp)
		case strings.HasSuffix(r.URL.Path, "/ack"):
			var req api.AckRequest
			json.Unmarshal(body, &req)
			for _, rg := range req.Ranges {
				for off := rg.From; off < rg.To; off++ {
					acked[off] = true
				}
			}
			json.NewEncoder(w).Encode(api.AckResponse{Succeeded: len(req.Ranges)})
		default:
			json.NewEncoder(w).Encode(api.AckResponse{})
		}
	}))
	defer srv.Close()
	cons := newPollingConsumer(t, client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}, PollWait: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for got := 0; got < total; {
		msgs, err := cons.Poll(ctx, 10)
		if err != nil {
			t.Fatalf("poll after %d messages: %v", got, err)
		}
		for _, m := range msgs {
			if err := cons.Ack(m); err != nil {
				t.Fatal(err)
			}
		}
		got += len(msgs)
	}
	if err := cons.CommitContext(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if refused != 1 {
		t.Fatalf("%d polls carried acks to a broker that refuses them, want 1 (then none)", refused)
	}
	for off := range int64(total) {
		if !acked[off] {
			t.Fatalf("offset %d was never acknowledged", off)
		}
	}
}
