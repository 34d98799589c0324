package client

import (
	"context"
	"encoding/json"
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
