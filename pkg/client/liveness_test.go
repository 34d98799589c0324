package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// handlerTransport serves requests with a handler in memory, so that a
// consumer runs in a synctest bubble on its fake clock.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// expiringBroker hands out offsets 0, 1, 2, ... of orders/0 ten at a time
// to its one member, and forgets the member when told to, as a broker does
// when heartbeats stop for the session timeout.
type expiringBroker struct {
	mu        sync.Mutex
	next      int64
	gen       int64
	forgotten bool
	beats     int
}

func (b *expiringBroker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if b.forgotten && !strings.HasSuffix(r.URL.Path, "/join") {
		w.WriteHeader(api.ErrUnknownMember.Status)
		json.NewEncoder(w).Encode(api.ErrorBody{Error: api.ErrUnknownMember.Withf("member m is not in group g")})
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/join"):
		b.gen++
		b.forgotten = false
		json.NewEncoder(w).Encode(api.JoinResponse{MemberID: "m", Generation: b.gen, AssignedPartitions: api.Assignment{"orders": {0}},
			HeartbeatIntervalMS: time.Hour.Milliseconds(), SessionTimeoutMS: time.Second.Milliseconds()})
	case strings.HasSuffix(r.URL.Path, "/heartbeat"):
		b.beats++
		json.NewEncoder(w).Encode(api.HeartbeatResponse{Generation: b.gen, AssignedPartitions: api.Assignment{"orders": {0}}, HeartbeatIntervalMS: time.Hour.Milliseconds()})
	case strings.HasSuffix(r.URL.Path, "/poll"):
		resp := api.PollResponse{Messages: []api.Message{}}
		for range 10 {
			resp.Messages = append(resp.Messages, api.Message{Topic: "orders", Partition: 0, Offset: b.next, Value: json.RawMessage(`"x"`), DeliveryCount: 1})
			b.next++
		}
		json.NewEncoder(w).Encode(resp)
	default:
		json.NewEncoder(w).Encode(api.AckResponse{})
	}
}

// Messages polled ahead are handed out only while the membership is sure
// to hold: once the session timeout has passed since the last heartbeat the
// broker answered, the consumer heartbeats first, and a member the broker
// forgot drops them (the broker gave them to another member) instead of
// processing them beside their new owner.
func TestPolledAheadNotHandedOutAfterTheSessionMayHaveEnded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &expiringBroker{}
		var lost int
		cons, err := client.NewConsumer(&client.ConsumerConfig{
			Brokers: []string{"http://broker"}, GroupID: "g", Topics: []string{"orders"},
			HTTPClient: &http.Client{Transport: handlerTransport{b}}, PollWait: 10 * time.Millisecond,
			OnLost: func(api.Assignment) { lost++ },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer cons.Close()
		ctx := context.Background()
		poll := func() []int64 {
			t.Helper()
			msgs, err := cons.Poll(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			var offs []int64
			for _, m := range msgs {
				offs = append(offs, m.Offset)
				cons.Ack(m)
			}
			synctest.Wait() // the poll ahead is in
			return offs
		}
		if got := poll(); len(got) != 10 || got[0] != 0 {
			t.Fatalf("first poll: %v, want offsets 0–9", got)
		}
		// Within the session: what was polled ahead comes at once.
		if got := poll(); len(got) != 10 || got[0] != 10 {
			t.Fatalf("second poll: %v, want offsets 10–19 polled ahead", got)
		}
		b.mu.Lock()
		beats := b.beats
		b.forgotten = true // offsets 20–29, polled ahead, are another member's now
		b.mu.Unlock()
		if beats != 0 {
			t.Fatalf("%d heartbeats within the session, want none", beats)
		}
		time.Sleep(2 * time.Second)
		got := poll()
		for _, off := range got {
			if off >= 20 && off < 30 {
				t.Fatalf("third poll handed out offset %d, polled ahead by a membership the broker had ended", off)
			}
		}
		if lost != 1 {
			t.Fatalf("OnLost called %d times, want 1", lost)
		}
	})
}
