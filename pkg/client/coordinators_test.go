package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// A consumer and a client given only a node that does not coordinate the
// group (it answers every group request 421 NOT_COORDINATOR naming the
// broker that does, and serves the rest) follow it there without user
// action: the consumer joins, reads and acknowledges everything, commits,
// and leaves; the client describes the group and reads its offsets. The
// other node sees the group's first request only: the coordinator is
// remembered.
func TestGroupRequestsFollowNotCoordinator(t *testing.T) {
	srv, _ := setup(t, "orders", 3)
	const n = 500
	produce(t, srv.URL, "orders", n)
	coord, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	refused, clusterAsked := 0, 0
	other := frontProxy(t, srv.URL, func(r *http.Request, _ []byte) {
		if r.URL.Path == "/cluster" {
			mu.Lock()
			clusterAsked++
			mu.Unlock()
		}
	})
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/groups/") {
			other.Config.Handler.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		refused++
		mu.Unlock()
		e := api.ErrNotCoordinator.Withf("node 2 does not coordinate this group").
			WithDetail("coordinator", 1).WithDetail("coordinator_addr", coord.Host)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.Status)
		_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: e})
	}))
	t.Cleanup(node.Close)

	cons := newConsumer(t, client.ConsumerConfig{Brokers: []string{node.URL}, GroupID: "g", Topics: []string{"orders"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for got := 0; got < n; {
		msgs, err := cons.Poll(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if err := cons.Ack(m); err != nil {
				t.Fatal(err)
			}
		}
		got += len(msgs)
	}
	if err := cons.CommitAll(); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(node.URL)
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.Group(ctx, "g")
	if err != nil || len(g.Members) != 1 || g.Lag != 0 {
		t.Fatalf("group through the other node: %+v, %v", g, err)
	}
	offs, err := c.GroupOffsets(ctx, "g")
	if err != nil || len(offs["orders"]) != 3 {
		t.Fatalf("offsets through the other node: %v, %v", offs, err)
	}
	// A single broker's list names no node: nobody else is asked.
	if gs, err := c.Groups(ctx); err != nil || len(gs) != 1 || gs[0].GroupID != "g" {
		t.Fatalf("groups: %+v, %v", gs, err)
	}
	if err := cons.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if clusterAsked != 0 {
		t.Fatalf("GET /cluster asked %d times of a single broker", clusterAsked)
	}
	if refused != 2 { // the consumer's first request and the client's
		t.Fatalf("the other node was asked %d group requests, want 2", refused)
	}
}

// A group's writes ask the node not to pass them on to the group's
// coordinator (api.NoForwardHeader): the client talks to coordinators
// itself, following NOT_COORDINATOR. Its reads, which any node serves,
// do not.
func TestGroupWritesAskNotToBePassedOn(t *testing.T) {
	srv, _ := setup(t, "orders", 1)
	var mu sync.Mutex
	asked := map[string]string{} // "METHOD path" → the header
	front := frontProxy(t, srv.URL, func(r *http.Request, _ []byte) {
		mu.Lock()
		defer mu.Unlock()
		asked[r.Method+" "+r.URL.Path] = r.Header.Get(api.NoForwardHeader)
	})
	cl, err := client.New(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.ResetOffsets(ctx, "g", api.ResetOffsetsRequest{To: "earliest", Topics: []string{"orders"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.GroupOffsets(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if asked["POST /groups/g/offsets/reset"] == "" || asked["GET /groups/g/offsets"] != "" {
		t.Fatalf("%s per request: %v", api.NoForwardHeader, asked)
	}
}
