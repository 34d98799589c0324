package httpapi_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// readingCluster is groupCluster whose requests on node 1 are served by
// *node1's API, as the cluster link serves them (fail: unreachable; lost:
// served, but the answer lost on the way back; busy: refused unread, the
// coordinator holding as many as it may); calls counts the requests
// asked for, last (if set) keeps the last, maxBody is MaxPeerBody (0: 1
// MiB).
type readingCluster struct {
	groupCluster
	node1   **brokertest.Server
	fail    bool
	lost    bool
	busy    bool
	calls   *atomic.Int64
	last    *httpapi.PeerRequest
	maxBody int
}

func (r readingCluster) ServeOn(_ context.Context, node uint64, req httpapi.PeerRequest) (httpapi.PeerAnswer, error) {
	r.calls.Add(1)
	if r.last != nil {
		*r.last = req
	}
	if r.fail || node != 1 || r.node1 == nil {
		return httpapi.PeerAnswer{}, errors.New("unreachable")
	}
	if r.busy {
		return httpapi.PeerAnswer{}, fmt.Errorf("%w: node 1", httpapi.ErrPeerBusy)
	}
	// The coordinator's context is its own, as over the cluster link:
	// nothing of the caller's request's (its key's scope) goes along.
	a := (*r.node1).Handler().ServePeer(context.Background(), req, 0)
	if r.lost {
		return httpapi.PeerAnswer{}, fmt.Errorf("%w: connection reset", httpapi.ErrPeerNoAnswer)
	}
	return a, nil
}

func (r readingCluster) MaxPeerBody() int { return cmp.Or(r.maxBody, 1<<20) }

// A group's reads (GET /groups/{g} and its offsets, rebalances and lag
// history) answer on any node as on the group's coordinator, which serves
// them; they answered NOT_COORDINATOR, so the guide's curl of a group
// failed on every node but one. A read the coordinator cannot be asked
// for answers NOT_COORDINATOR; a request a peer asked for is never passed
// on again; and a key's permissions are checked where the request comes
// in.
func TestGroupReadsServedByTheCoordinator(t *testing.T) {
	var node1 *brokertest.Server
	var calls1, calls2 atomic.Int64
	node1 = brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = readingCluster{groupCluster: groupCluster{fakeCluster: fakeCluster{self: 1}}, calls: &calls1}
	}))
	keys := []string{matrixKeys["full"], matrixKeys["other"]}
	node2 := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = readingCluster{groupCluster: groupCluster{fakeCluster: fakeCluster{self: 2}}, node1: &node1, calls: &calls2}
		o.APIKeys = keys
	}))
	if _, err := node1.Broker().CreateTopic(broker.TopicSpec{Name: "orders", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	var joined api.JoinResponse
	if st := node1.DoJSON("POST", "/groups/g1-x/join", `{"topics":["orders"]}`, &joined); st != http.StatusOK {
		t.Fatalf("join on node 1: %d", st)
	}
	commit := fmt.Sprintf(`{"member_id":%q,"generation":%d,"offsets":{"orders":{"1":0}}}`, joined.MemberID, joined.Generation)
	if st, raw := node1.Do("POST", "/groups/g1-x/offsets", commit); st != http.StatusOK {
		t.Fatalf("commit on node 1: %d %s", st, raw)
	}

	full := matrixKeys["full"]
	for _, path := range []string{"/groups/g1-x/offsets", "/groups/g1-x/rebalances", "/groups/g1-x"} {
		st, raw := sendWithKey(t, node2, full, "GET", path, "")
		_, own := node1.Do("GET", path, nil)
		if st != http.StatusOK || !sameGroupRead(t, raw, own) {
			t.Fatalf("GET %s on node 2: %d %s\nnode 1's own: %s", path, st, raw, own)
		}
	}
	reads := []struct {
		path string
		want *api.Error
	}{
		{"/groups/g1-nosuch", api.ErrGroupNotFound},
		{"/groups/g1-x/lag-history?ofset=1", api.ErrBadRequest},
	}
	for _, c := range reads {
		st, raw := sendWithKey(t, node2, full, "GET", c.path, "")
		wantError(t, st, raw, c.want)
	}
	req, _ := http.NewRequest("GET", node2.URL+"/groups/g1-x", nil)
	req.Header.Set("X-API-Key", "full-0123456789abcdef")
	resp, err := node2.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get(httpapi.ServedByHeader); got != "1" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("a read node 1 served: %s %q, Content-Type %q", httpapi.ServedByHeader, got, resp.Header.Get("Content-Type"))
	}

	// A key that may not use the group is refused on node 2, before node
	// 1 is asked.
	before := calls2.Load()
	st, raw := sendWithKey(t, node2, matrixKeys["other"], "GET", "/groups/g1-x", "")
	wantError(t, st, raw, api.ErrForbidden)
	st, raw = sendWithKey(t, node2, matrixKeys["other"], "POST", "/groups/g1-x/poll", `{"member_id":"m","generation":1}`)
	wantError(t, st, raw, api.ErrForbidden)
	if n := calls2.Load() - before; n != 0 {
		t.Fatalf("node 2 asked node 1 %d times for forbidden requests", n)
	}

	// Node 1 asked for a group it takes for node 2's answers
	// NOT_COORDINATOR and asks no one; it serves only group routes.
	for _, c := range []struct {
		method, path string
		want         *api.Error
	}{
		{"GET", "/groups/g2-mine", api.ErrNotCoordinator},
		{"POST", "/groups/g2-mine/leave", api.ErrNotCoordinator},
		{"GET", "/groups", api.ErrNotFound},
		{"GET", "/topics/orders", api.ErrNotFound},
		{"POST", "/topics/orders/messages", api.ErrNotFound},
		{"GET", "/stream", api.ErrNotFound},
		{"GET", "//elsewhere/groups/g1-x", api.ErrBadRequest},
	} {
		a := node1.Handler().ServePeer(context.Background(), httpapi.PeerRequest{Method: c.method, Path: c.path, Body: []byte(`{"member_id":"m"}`)}, 0)
		wantError(t, a.Status, a.Body, c.want)
	}
	if n := calls1.Load(); n != 0 {
		t.Fatalf("node 1 passed a peer's request on %d times", n)
	}

	// The coordinator unreachable: NOT_COORDINATOR naming it, as before.
	cut := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = readingCluster{groupCluster: groupCluster{fakeCluster: fakeCluster{self: 2}}, fail: true, calls: &calls2}
	}))
	st, raw = cut.Do("GET", "/groups/g1-x", nil)
	if e := wantError(t, st, raw, api.ErrNotCoordinator); e.Details["coordinator_addr"] != "127.0.0.1:8001" {
		t.Fatalf("details %v", e.Details)
	}
}

// sameGroupRead reports whether two answers of a group read are the same
// but for what changes between two reads (heartbeat ages, time lag).
func sameGroupRead(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y map[string]any
	mustUnmarshal(t, a, &x)
	mustUnmarshal(t, b, &y)
	for _, m := range []map[string]any{x, y} {
		for _, k := range []string{"members", "partitions"} {
			list, _ := m[k].([]any)
			for _, e := range list {
				if e, ok := e.(map[string]any); ok {
					delete(e, "last_heartbeat")
					delete(e, "time_lag_ms")
				}
			}
		}
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

// A reset copying another group's offsets (to group) on the node that
// coordinates the group reset reads the source group from its own
// coordinator when another node coordinates that one: it answered
// NOT_COORDINATOR about the source, naming no node, so `goqueue group
// reset-offsets G --from-group S` failed for good whenever S and G had
// different coordinators. A source that does not exist is still
// GROUP_NOT_FOUND; one whose coordinator cannot be asked, or is not
// known (being elected: it answered GROUP_NOT_FOUND, not retriable),
// UNAVAILABLE.
func TestResetCopiesAGroupCoordinatedElsewhere(t *testing.T) {
	var node1 *brokertest.Server
	var calls atomic.Int64
	node1 = brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = readingCluster{groupCluster: groupCluster{fakeCluster: fakeCluster{self: 1}}, calls: &calls}
	}))
	node2 := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = readingCluster{groupCluster: groupCluster{fakeCluster: fakeCluster{self: 2}}, node1: &node1, calls: &calls}
	}))
	cut := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = readingCluster{groupCluster: groupCluster{fakeCluster: fakeCluster{self: 2}}, fail: true, calls: &calls}
	}))
	electing := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = readingCluster{groupCluster: groupCluster{fakeCluster: fakeCluster{self: 2}, electing: "g1"}, node1: &node1, calls: &calls}
	}))
	for _, n := range []*brokertest.Server{node1, node2, cut, electing} {
		if _, err := n.Broker().CreateTopic(broker.TopicSpec{Name: "orders", Partitions: 2}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Broker().Publish("orders", []broker.Message{{Value: []byte("a"), Partition: 1}, {Value: []byte("b"), Partition: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if st, raw := node1.Do("POST", "/groups/g1-src/offsets/reset", `{"to":"offsets","offsets":{"orders":{"1":2}}}`); st != http.StatusOK {
		t.Fatalf("set g1-src's offsets on node 1: %d %s", st, raw)
	}
	for _, c := range []struct {
		name string
		node *brokertest.Server
		from string
		want *api.Error
	}{
		{"copied", node2, "g1-src", nil},
		{"no such source", node2, "g1-nosuch", api.ErrGroupNotFound},
		{"source's coordinator unreachable", cut, "g1-src", api.ErrUnavailable},
		// Not GROUP_NOT_FOUND (for good), nor a copy of whatever this
		// node holds of the source.
		{"source's coordinator being elected", electing, "g1-src", api.ErrUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := fmt.Sprintf(`{"to":"group","from_group":%q}`, c.from)
			st, raw := c.node.Do("POST", "/groups/g2-copy/offsets/reset", body)
			if c.want != nil {
				wantError(t, st, raw, c.want)
				return
			}
			if st != http.StatusOK {
				t.Fatalf("copy on node 2: %d %s", st, raw)
			}
			var got api.OffsetsResponse
			if st := c.node.DoJSON("GET", "/groups/g2-copy/offsets", nil, &got); st != http.StatusOK || got.Offsets["orders"][1] != 2 {
				t.Fatalf("g2-copy's offsets after the copy: %d %v", st, got.Offsets)
			}
		})
	}
}
