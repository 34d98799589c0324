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
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestLongHandBackRefusalIsDropped: a poll answer that crossed the release
// of a partition carries thousands of its messages; the consumer hands them
// back, and the broker, which handed them off with the release, refuses
// each: NOT_PARTITION_OWNER with every message listed in details.result,
// over 1 MiB. The refusal is harmless and dropped: one release nack, no
// error from Poll. Read as BAD_REQUEST (the envelope cut at 1 MiB), it was
// sent again as a plain nack, and kept and resent at every flush before
// the client dropped non-retriable refusals: the stall of issue 12.
func TestLongHandBackRefusalIsDropped(t *testing.T) {
	const n = 6000 // messages polled of the released partition
	var (
		mu       sync.Mutex
		beats    int
		answered bool
		nacks    []api.AckRequest
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
			if beats >= 2 && !answered {
				answered = true
				for off := range int64(n) {
					resp.Messages = append(resp.Messages, api.Message{Topic: "orders", Partition: 0, Offset: off, Value: json.RawMessage(`"x"`), DeliveryCount: 1})
				}
			}
			json.NewEncoder(w).Encode(resp)
		case strings.HasSuffix(r.URL.Path, "/nack"):
			var req api.AckRequest
			json.Unmarshal(body, &req)
			nacks = append(nacks, req)
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(api.ErrorBody{Error: notOwnerRefusal(req)})
		default:
			json.NewEncoder(w).Encode(api.AckResponse{})
		}
	}))
	defer srv.Close()
	cons := newConsumer(t, client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}, PollWait: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sent := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(nacks)
	}
	// Poll until the hand-back went out, then a while longer: a refusal
	// kept or misread would go out again, or fail a Poll.
	for after := 0; after < 20; {
		msgs, err := cons.Poll(ctx, 10)
		if err != nil {
			t.Fatalf("poll: %.300v", err)
		}
		if len(msgs) != 0 {
			t.Fatalf("poll handed out %+v of a released partition", msgs[0])
		}
		if sent() > 0 {
			after++
		}
	}
	if err := cons.Commit(); err != nil {
		t.Fatalf("commit: %.300v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	named := int64(0)
	for _, r := range nacks[0].Ranges {
		named += r.To - r.From
	}
	if len(nacks) != 1 || !nacks[0].Release || named != n {
		t.Fatalf("sent %d nacks, the first release=%v naming %d messages; want one release of %d", len(nacks), nacks[0].Release, named, n)
	}
}

// notOwnerRefusal is the broker's refusal of req by a member that owns
// none of its partitions: the first failure's error, with every message
// in details.result.
func notOwnerRefusal(req api.AckRequest) *api.Error {
	var res api.AckResponse
	for _, r := range req.Ranges {
		for off := r.From; off < r.To; off++ {
			e := api.ErrNotOwner.Withf("member %q does not own %s/%d", req.MemberID, r.Topic, r.Partition).
				WithDetail("topic", r.Topic).WithDetail("partition", r.Partition)
			res.Failed = append(res.Failed, api.MessageErr{MessageRef: api.MessageRef{Topic: r.Topic, Partition: r.Partition, Offset: off}, Error: e})
		}
	}
	if len(res.Failed) == 0 {
		return api.ErrInvalidArgument.Withf("no messages named")
	}
	first := res.Failed[0].Error
	return first.WithDetail("result", res)
}
