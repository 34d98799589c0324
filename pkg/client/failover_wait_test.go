package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// The failover wait runs from the failure of the node a request was
// redirected to, not from the redirect: a request held there for longer
// than the wait (a long poll) and then cut off by the node's death still
// waits for the node that takes over. It got no wait at all before.
func TestFailoverWaitRunsFromTheFailure(t *testing.T) {
	defer func(w time.Duration) { failoverWait = w }(failoverWait)
	failoverWait = 200 * time.Millisecond

	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(api.PublishResponse{Topic: "t"})
	}))
	defer good.Close()
	// dying holds the request past the wait, then dies with it.
	var dying *httptest.Server
	dying = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(300 * time.Millisecond)
		dying.Listener.Close() // later requests are refused
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer dying.Close()
	var asked atomic.Int32
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		to := dying.URL
		if asked.Add(1) > 1 {
			to = good.URL // the partition's new leader
		}
		e := api.ErrNotLeader.Withf("not this node").WithDetail("leader_addr", strings.TrimPrefix(to, "http://"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.Status)
		_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: e})
	}))
	defer node.Close()

	tr, err := newTransport([]string{node.URL}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out api.PublishResponse
	served, err := tr.follow(ctx, "", http.MethodPost, "/topics/t/messages", "application/json", []byte(`{"value":1}`), &out)
	if err != nil || served != good.URL {
		t.Fatalf("publish through a leader that died holding it: served by %q, %v", served, err)
	}
}

// A group's coordinator that takes a heartbeat and answers nothing
// (stopped, hung: its connections whole) held the member for as long as
// it stayed so. An attempt cut by answerWithin makes it unreachable: it
// is forgotten and not asked again, and the request goes to the other
// nodes, which here name the group's new coordinator.
func TestSilentCoordinatorIsLeft(t *testing.T) {
	hung, hungAsked := hungServer(t)
	taken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(api.HeartbeatResponse{Generation: 3})
	}))
	defer taken.Close()
	// other is the node the client was given: it names the coordinator
	// that took the group over.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		e := api.ErrNotCoordinator.Withf("not this node").WithDetail("coordinator_addr", strings.TrimPrefix(taken.URL, "http://"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.Status)
		_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: e})
	}))
	defer other.Close()

	tr, err := newTransport([]string{other.URL}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	tr.coordinators.Store("g", hung.URL) // as a redirect named it before it hung
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out api.HeartbeatResponse
	err = tr.do(answerWithin(ctx, 500*time.Millisecond), http.MethodPost, "/groups/g/heartbeat", api.HeartbeatRequest{MemberID: "m"}, &out)
	if err != nil || out.Generation != 3 {
		t.Fatalf("heartbeat with the coordinator hung: %v (generation %d)", err, out.Generation)
	}
	if v, _ := tr.coordinators.Load("g"); v != taken.URL || hungAsked.Load() != 1 {
		t.Fatalf("coordinator now %v, the hung one asked %d times; want %s, once", v, hungAsked.Load(), taken.URL)
	}
}

// A request any broker may answer, cut by answerWithin at a hung broker,
// goes to the next one, which is asked first from then on: the
// Producer's refresh of leaders, asking the node that had just hung,
// held every partition's requests for its whole timeout, each time.
func TestSilentBrokerIsPassedBy(t *testing.T) {
	hung, hungAsked := hungServer(t)
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(api.Topic{Name: "t", Partitions: 3})
	}))
	defer good.Close()
	tr, err := newTransport([]string{hung.URL, good.URL}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		var out api.Topic
		if err := tr.do(answerWithin(ctx, time.Second), http.MethodGet, "/topics/t", nil, &out); err != nil || out.Partitions != 3 {
			t.Fatalf("with the first broker hung: %v (%+v)", err, out)
		}
	}
	if n := hungAsked.Load(); n != 1 {
		t.Fatalf("the hung broker was asked %d times, want once", n)
	}
}

// A write that one node left unanswered may have been applied there: the
// error of a write given up so says it, and so does the answer of the
// next node, which sees the write as if it had not been sent (a purge the
// hung node applied is answered TOPIC_NOT_FOUND). Before, a purge or
// create so answered looked refused, as though nothing had happened.
// A read's error says nothing of the kind.
func TestUnansweredWriteSaysItMayHaveApplied(t *testing.T) {
	hung, _ := hungServer(t)
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		e := api.ErrTopicNotFound.Withf("no topic t.dlq")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.Status)
		_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: e})
	}))
	defer gone.Close()
	for _, tc := range []struct {
		name    string
		brokers []string
		method  string
		is      error  // what the error must match
		says    string // what its text must hold; "": no "may have"
	}{
		{"answered after", []string{hung.URL, gone.URL}, http.MethodDelete, api.ErrTopicNotFound, "which may have applied it"},
		{"never answered", []string{hung.URL}, http.MethodPost, ErrUnreachable, "(it may have been applied)"},
		{"read", []string{hung.URL, gone.URL}, http.MethodGet, api.ErrTopicNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := newTransport(tc.brokers, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = tr.do(answerWithin(ctx, 200*time.Millisecond), tc.method, "/topics/t/dlq", nil, nil)
			switch {
			case !errors.Is(err, tc.is):
				t.Fatalf("error %v, want one matching %v", err, tc.is)
			case tc.says == "" && strings.Contains(err.Error(), "may have"):
				t.Fatalf("a read's error %q says it may have applied", err)
			case !strings.Contains(err.Error(), tc.says):
				t.Fatalf("error %q does not say %q", err, tc.says)
			}
		})
	}
}

// hungServer is a node that takes requests and answers none (stopped or
// hung, its connections whole) until the test ends; asked counts them.
func hungServer(t *testing.T) (srv *httptest.Server, asked *atomic.Int32) {
	release := make(chan struct{})
	asked = new(atomic.Int32)
	srv = httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		asked.Add(1)
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // first: Close waits for the handlers
	return srv, asked
}
