package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestHeartbeatsGoOneAtATime: a heartbeat lists what the member owns as it
// is sent, and the broker takes a partition left out as released. Two
// heartbeats in flight at once could arrive out of order: the older one,
// sent before the newer one's answer granted a partition, then gave that
// partition back behind the member's back, and its messages in flight
// went out again to the same member, in what it took for one ownership
// (the duplicates TestChaosRange once found under load). Here every poll
// is refused as of a stale generation, so each Poll heartbeats while the
// background goroutine heartbeats too; the broker holds each heartbeat a
// while and counts how many it holds at once. Each carries a seq above the
// last (the broker ignores what an older one says the member owns, for a
// request the transport sent again may still arrive after later ones).
func TestHeartbeatsGoOneAtATime(t *testing.T) {
	var (
		mu           sync.Mutex
		held, most   int
		beats, polls int
		seqs         []int64
	)
	srv := stalePollBroker(func(w http.ResponseWriter, r *http.Request) {
		var req api.HeartbeatRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		held++
		beats++
		most = max(most, held)
		seqs = append(seqs, req.Seq)
		mu.Unlock()
		time.Sleep(10 * time.Millisecond) // widens the window two heartbeats could overlap in
		mu.Lock()
		held--
		mu.Unlock()
		json.NewEncoder(w).Encode(api.HeartbeatResponse{Generation: 1, AssignedPartitions: api.Assignment{"orders": {0}}, HeartbeatIntervalMS: 1})
	}, func() {
		mu.Lock()
		polls++
		mu.Unlock()
	})
	defer srv.Close()
	cons := newConsumer(t, client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"},
		PollWait: time.Millisecond, HeartbeatInterval: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 20 {
		_, _ = cons.Poll(ctx, 10) // refused: each attempt heartbeats first
	}
	mu.Lock()
	defer mu.Unlock()
	if polls == 0 || beats < 20 {
		t.Fatalf("%d polls, %d heartbeats: the test did not run what it meant to", polls, beats)
	}
	if most != 1 {
		t.Fatalf("%d heartbeats were in flight at once (of %d); want one at a time", most, beats)
	}
	for i, s := range seqs {
		if s <= 0 || i > 0 && s <= seqs[i-1] {
			t.Fatalf("heartbeat seqs %v: want each above 0 and above the one before", seqs)
		}
	}
}

// TestCloseDoesNotWaitOnAHeldHeartbeat: a Poll whose heartbeat hangs (a
// stuck broker, a context without a deadline) holds the heartbeat turn;
// the background goroutine, waiting for it, still ends when Close says so,
// and Close returns within its CloseTimeout instead of waiting on the hung
// request.
func TestCloseDoesNotWaitOnAHeldHeartbeat(t *testing.T) {
	hang, first := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := stalePollBroker(func(http.ResponseWriter, *http.Request) {
		once.Do(func() { close(first) })
		<-hang // the broker never answers
	}, func() {})
	pollCtx, cancel := context.WithCancel(context.Background()) // no deadline: only the test ends it
	polled := make(chan struct{})
	defer func() {
		close(hang) // before srv.Close, which waits for the handlers
		cancel()
		<-polled
		srv.Close()
	}()
	cons, err := client.NewConsumer(&client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"},
		PollWait: time.Millisecond, HeartbeatInterval: time.Millisecond, CloseTimeout: time.Second, NoStream: true})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(polled)
		_, _ = cons.Poll(pollCtx, 10) // its heartbeat hangs
	}()
	<-first // a heartbeat is held: the Poll's or the background goroutine's
	closed := make(chan error, 1)
	go func() { closed <- cons.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited on a heartbeat held by another caller")
	}
}

// stalePollBroker is a broker that admits one member, owner of orders/0,
// answers its heartbeats with heartbeat and refuses every poll as of a
// stale generation (after calling polled), so that each Poll heartbeats.
func stalePollBroker(heartbeat func(http.ResponseWriter, *http.Request), polled func()) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/join"):
			json.NewEncoder(w).Encode(api.JoinResponse{MemberID: "m", Generation: 1, AssignedPartitions: api.Assignment{"orders": {0}}, HeartbeatIntervalMS: 1, SessionTimeoutMS: 30000})
		case strings.HasSuffix(r.URL.Path, "/heartbeat"):
			heartbeat(w, r)
		case strings.HasSuffix(r.URL.Path, "/poll"):
			polled()
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(api.ErrorBody{Error: api.ErrStaleGeneration.Withf("stale").WithDetail("generation", 1)})
		default:
			json.NewEncoder(w).Encode(api.AckResponse{})
		}
	}))
}
