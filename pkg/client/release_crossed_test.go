package client_test

import (
	"context"
	"encoding/json"
	"errors"
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

// TestPollAcrossReleaseAndReassign: a long poll is answered messages of
// partition 0 that the broker handed out before the member released the
// partition, and the answer arrives after the heartbeat that gave the
// partition back to the same member (an eager rebalance: everyone
// releases everything, then mostly gets it back). The release took those
// messages back, so they are not this ownership's: they go back (a release
// nack), never to the application, whose acks would come too late and
// which would get them again under the same ownership. Poll handed them
// out before: it checked only whether the partition was released and not
// assigned again by the time the answer came.
func TestPollAcrossReleaseAndReassign(t *testing.T) {
	const n = 5
	var (
		mu       sync.Mutex
		beats    int
		released bool // a heartbeat left partition 0 out
		// reassignedSeen: a later heartbeat listed partition 0 again.
		reassignedSeen bool
		reassigned     = make(chan struct{})
		answered       bool
		nacks          []api.AckRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/join"):
			json.NewEncoder(w).Encode(api.JoinResponse{MemberID: "m", Generation: 1, AssignedPartitions: api.Assignment{"orders": {0}}, HeartbeatIntervalMS: 5, SessionTimeoutMS: 30000})
		case strings.HasSuffix(r.URL.Path, "/heartbeat"):
			var req api.HeartbeatRequest
			json.Unmarshal(body, &req)
			mu.Lock()
			defer mu.Unlock()
			beats++
			assigned := api.Assignment{"orders": {0}}
			switch {
			case beats == 1:
				assigned = api.Assignment{} // revoke everything: nothing is held, so it is released at once
			case !released && len(req.OwnedPartitions["orders"]) == 0:
				released = true // this answer gives partition 0 back
			case released && len(req.OwnedPartitions["orders"]) == 1 && !reassignedSeen:
				// The member applied the answer that gave it back:
				// only now does the poll's answer arrive.
				reassignedSeen = true
				close(reassigned)
			}
			json.NewEncoder(w).Encode(api.HeartbeatResponse{Generation: 2, AssignedPartitions: assigned, HeartbeatIntervalMS: 5})
		case strings.HasSuffix(r.URL.Path, "/poll"):
			var req api.PollRequest
			json.Unmarshal(body, &req)
			resp := api.PollResponse{Messages: []api.Message{}}
			mu.Lock()
			first := !answered && req.WaitMS > 0
			answered = answered || first
			mu.Unlock()
			if first {
				// Handed out before the release; the answer is late.
				select {
				case <-reassigned:
				case <-time.After(5 * time.Second):
				}
				for off := range int64(n) {
					resp.Messages = append(resp.Messages, api.Message{Topic: "orders", Partition: 0, Offset: off, Value: json.RawMessage(`"x"`), DeliveryCount: 1})
				}
			}
			json.NewEncoder(w).Encode(resp)
		case strings.HasSuffix(r.URL.Path, "/nack"):
			var req api.AckRequest
			json.Unmarshal(body, &req)
			mu.Lock()
			nacks = append(nacks, req)
			mu.Unlock()
			json.NewEncoder(w).Encode(api.AckResponse{})
		case strings.HasSuffix(r.URL.Path, api.StreamPath):
			http.NotFound(w, r)
		default:
			json.NewEncoder(w).Encode(api.AckResponse{})
		}
	}))
	defer srv.Close()
	cons := newConsumer(t, client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}, PollWait: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := cons.Poll(ctx, 10)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	if len(msgs) != 0 {
		t.Fatalf("poll handed out %d messages the release had taken back, from %d/%d", len(msgs), msgs[0].Partition, msgs[0].Offset)
	}
	testkit.EventuallyNil(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(nacks) == 0 {
			return errors.New("the messages were never handed back")
		}
		if r := nacks[0].Ranges; !nacks[0].Release || len(r) != 1 || r[0].From != 0 || r[0].To != n {
			t.Fatalf("handed back %+v, want one release nack of orders/0 0..%d", nacks[0], n)
		}
		return nil
	})
}
