package httpapi_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// peerPair is node 1, coordinating the groups named g1..., and node 2,
// which passes their requests to node 1 as the cluster link would; both
// have the topic orders (2 partitions).
type peerPair struct {
	node1, node2 *brokertest.Server
	calls        atomic.Int64        // the requests node 2 passed on
	last         httpapi.PeerRequest // the last of them
}

// startPeerPair starts a peerPair; edit changes node 2's cluster and
// options, edit1 (if any) node 1's options.
func startPeerPair(t *testing.T, edit func(*readingCluster, *httpapi.Options), edit1 ...func(*httpapi.Options)) *peerPair {
	t.Helper()
	p := &peerPair{}
	p.node1 = brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = groupCluster{fakeCluster: fakeCluster{self: 1}}
		for _, e := range edit1 {
			e(o)
		}
	}))
	p.node2 = brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		rc := readingCluster{groupCluster: groupCluster{fakeCluster: fakeCluster{self: 2}}, node1: &p.node1, calls: &p.calls, last: &p.last}
		if edit != nil {
			edit(&rc, o)
		}
		o.Cluster = rc
	}))
	for _, n := range []*brokertest.Server{p.node1, p.node2} {
		if _, err := n.Broker().CreateTopic(broker.TopicSpec{Name: "orders", Partitions: 2}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// do sends a request to node 2 and returns its status, answer and
// ServedByHeader.
func (p *peerPair) do(t *testing.T, method, path, body string, header ...string) (int, []byte, string) {
	t.Helper()
	req, _ := http.NewRequest(method, p.node2.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := p.node2.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes(), resp.Header.Get(httpapi.ServedByHeader)
}

// The user guide's sequence for a group, sent as curl sends it to a node
// that does not coordinate the group, is served by the coordinator: every
// write answered NOT_COORDINATOR there. The answers are the
// coordinator's, headers included, and say which node served them; the
// coordinator's state shows what was done.
func TestGroupWritesServedByTheCoordinator(t *testing.T) {
	p := startPeerPair(t, nil)
	if _, err := p.node1.Broker().Publish("orders", []broker.Message{{Value: []byte(`"one"`), Partition: 0}, {Value: []byte(`"two"`), Partition: 0}}); err != nil {
		t.Fatal(err)
	}
	var joined api.JoinResponse
	steps := []struct {
		method, path, body string
		header             []string
		status             int
		check              func(t *testing.T, raw []byte, h string)
	}{
		{"POST", "/groups/g1-orders/join", `{"member_id":"consumer-1","topics":["orders"],"session_timeout_ms":30000}`, nil, 200,
			func(t *testing.T, raw []byte, _ string) {
				mustUnmarshal(t, raw, &joined)
				if joined.MemberID != "consumer-1" || joined.NodeID != 1 || len(joined.AssignedPartitions["orders"]) != 2 {
					t.Fatalf("joined %+v", joined)
				}
			}},
		{"POST", "/groups/g1-orders/poll", `{"member_id":"consumer-1","generation":1,"max_messages":1,"wait_ms":5000}`, nil, 200,
			func(t *testing.T, raw []byte, _ string) {
				var got api.PollResponse
				if mustUnmarshal(t, raw, &got); len(got.Messages) != 1 || got.Messages[0].Offset != 0 {
					t.Fatalf("polled %s", raw)
				}
			}},
		{"POST", "/groups/g1-orders/poll", `{"member_id":"consumer-1","generation":1}`, []string{"Accept", api.PollBatchesContentType}, 200, nil},
		{"POST", "/groups/g1-orders/ack", `{"member_id":"consumer-1","generation":1,"messages":[{"topic":"orders","partition":0,"offset":0}]}`, nil, 200, nil},
		{"POST", "/groups/g1-orders/nack", `{"member_id":"consumer-1","generation":1,"messages":[{"topic":"orders","partition":0,"offset":1}]}`, nil, 200, nil},
		{"POST", "/groups/g1-orders/offsets", `{"member_id":"consumer-1","generation":1,"offsets":{"orders":{"1":0}}}`, nil, 200, nil},
		{"POST", "/groups/g1-orders/heartbeat", `{"member_id":"consumer-1","generation":1}`, nil, 200, nil},
		{"GET", "/groups/g1-orders", "", nil, 200,
			func(t *testing.T, raw []byte, _ string) {
				var d api.GroupDescription
				if mustUnmarshal(t, raw, &d); len(d.Members) != 1 || d.Members[0].ClientHost != "127.0.0.1" {
					t.Fatalf("described %s", raw)
				}
			}},
		{"POST", "/groups/g1-orders/leave", `{"member_id":"consumer-1"}`, nil, 204, nil},
		{"POST", "/groups/g1-orders/offsets/reset", `{"to":"earliest"}`, nil, 200, nil},
		{"DELETE", "/groups/g1-orders", "", nil, 204, nil},
	}
	for _, s := range steps {
		st, raw, servedBy := p.do(t, s.method, s.path, s.body, s.header...)
		if st != s.status || servedBy != "1" {
			t.Fatalf("%s %s on node 2: %d (served by %q) %s", s.method, s.path, st, servedBy, raw)
		}
		if s.check != nil {
			s.check(t, raw, servedBy)
		}
	}
	if p.last.RemoteAddr == "" || !strings.HasPrefix(p.last.RemoteAddr, "127.0.0.1:") {
		t.Fatalf("node 2 passed on the client's address as %q", p.last.RemoteAddr)
	}
	if st, raw := p.node1.Do("GET", "/groups/g1-orders", nil); st != http.StatusNotFound {
		t.Fatalf("the group after its DELETE through node 2: %d %s", st, raw)
	}
}

// A poll passed on answers like one on the coordinator, in its format:
// the Accept header goes along, the answer's headers come back.
func TestPassedOnPollKeepsItsFormat(t *testing.T) {
	p := startPeerPair(t, nil)
	if st, raw, _ := p.do(t, "POST", "/groups/g1-f/join", `{"member_id":"m","topics":["orders"]}`); st != 200 {
		t.Fatalf("join: %d %s", st, raw)
	}
	st, raw, _ := p.do(t, "POST", "/groups/g1-f/poll", `{"member_id":"m","generation":1}`, "Accept", api.PollBatchesContentType)
	if st != 200 {
		t.Fatalf("poll: %d %s", st, raw)
	}
	req, _ := http.NewRequest("POST", p.node2.URL+"/groups/g1-f/poll", strings.NewReader(`{"member_id":"m","generation":1}`))
	req.Header.Set("Accept", api.PollBatchesContentType)
	resp, err := p.node2.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != api.PollBatchesContentType {
		t.Fatalf("a binary poll passed on answered Content-Type %q", ct)
	}
}

// What node 2 cannot pass on, or whose answer it does not get, is never
// a success: the coordinator unreachable is NOT_COORDINATOR naming it
// (the Go client then asks it directly); a write it served whose answer
// was lost on the way back is UNAVAILABLE (the write may have been
// applied: here it was); a body over what the cluster link carries is
// refused before it is sent. A request with api.NoForwardHeader (the Go
// client's, which talks to coordinators directly) is NOT_COORDINATOR.
func TestGroupWritesNotPassedOn(t *testing.T) {
	for _, c := range []struct {
		name    string
		edit    func(*readingCluster, *httpapi.Options)
		body    string
		header  []string
		want    *api.Error
		asked   bool
		applied bool
	}{
		{"coordinator unreachable", func(r *readingCluster, _ *httpapi.Options) { r.fail = true },
			`{"member_id":"m","topics":["orders"]}`, nil, api.ErrNotCoordinator, true, false},
		{"coordinator busy", func(r *readingCluster, _ *httpapi.Options) { r.busy = true },
			`{"member_id":"m","topics":["orders"]}`, nil, api.ErrTooManyRequests, true, false},
		{"answer lost", func(r *readingCluster, _ *httpapi.Options) { r.lost = true },
			`{"member_id":"m","topics":["orders"]}`, nil, api.ErrUnavailable, true, true},
		{"body too large", func(r *readingCluster, _ *httpapi.Options) { r.maxBody = 64 },
			`{"member_id":"m","topics":["orders"],"assignor":"cooperative-sticky","rebalance_timeout_ms":1000}`, nil, api.ErrBodyTooLarge, false, false},
		{"asked not to be", nil, `{"member_id":"m","topics":["orders"]}`, []string{api.NoForwardHeader, "true"}, api.ErrNotCoordinator, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := startPeerPair(t, c.edit)
			st, raw, _ := p.do(t, "POST", "/groups/g1-x/join", c.body, c.header...)
			e := wantError(t, st, raw, c.want)
			if e.Details["coordinator"] != float64(1) || e.Details["coordinator_addr"] != "127.0.0.1:8001" {
				t.Fatalf("details %v, want the coordinator named", e.Details)
			}
			if asked := p.calls.Load() > 0; asked != c.asked {
				t.Fatalf("node 1 asked: %v, want %v", asked, c.asked)
			}
			st, _ = p.node1.Do("GET", "/groups/g1-x", nil)
			if applied := st == http.StatusOK; applied != c.applied {
				t.Fatalf("the join applied on node 1: %v, want %v", applied, c.applied)
			}
		})
	}
}

// The coordinator runs a request passed on with the permissions of the
// caller's key, which node 2 checked only for the route: a key that may
// use the group but not consume a topic cannot join for it, nor poll as
// a member that consumes it (it could, with the coordinator's full
// access).
func TestPassedOnRequestsKeepTheKeysScope(t *testing.T) {
	keys := map[string]string{
		"consumer": "g1cons-0123456789abcdef:group=g1*;consume=orders",
		"group":    "g1only-0123456789abcdef:group=g1*",
		"other":    "g1paym-0123456789abcdef:group=g1*;consume=payments",
	}
	p := startPeerPair(t, func(_ *readingCluster, o *httpapi.Options) {
		o.APIKeys = []string{keys["consumer"], keys["group"], keys["other"]}
	})
	if st, raw := sendWithKey(t, p.node2, keys["consumer"], "POST", "/groups/g1-s/join", `{"member_id":"m","topics":["orders"]}`); st != http.StatusOK {
		t.Fatalf("join with consume=orders: %d %s", st, raw)
	}
	for _, c := range []struct{ key, path, body string }{
		{"group", "/groups/g1-t/join", `{"member_id":"n","topics":["orders"]}`},
		{"other", "/groups/g1-s/poll", `{"member_id":"m","generation":1}`},
		{"other", "/groups/g1-s/offsets", `{"member_id":"m","generation":1,"offsets":{"orders":{"0":0}}}`},
	} {
		st, raw := sendWithKey(t, p.node2, keys[c.key], "POST", c.path, c.body)
		if e := wantError(t, st, raw, api.ErrForbidden); e.Details["topic"] != "orders" {
			t.Fatalf("%s with key %s: details %v", c.path, c.key, e.Details)
		}
	}
	// Full access passes on as full access.
	p2 := startPeerPair(t, func(_ *readingCluster, o *httpapi.Options) { o.APIKeys = []string{matrixKeys["full"]} })
	if st, raw := sendWithKey(t, p2.node2, matrixKeys["full"], "POST", "/groups/g1-s/join", `{"member_id":"m","topics":["orders"]}`); st != http.StatusOK || p2.last.Scope != nil {
		t.Fatalf("join with a full key: %d %s, scope passed %v", st, raw, p2.last.Scope)
	}
}

// A node that requires no API key is no way around a coordinator's keys
// (keys enabled node by node in a rolling restart): what it passes on is
// refused as a request without a key, as the coordinator refuses its own
// callers. A node that checked a key passes its requests on as before.
func TestPassedOnRequestsNeedTheCoordinatorsKey(t *testing.T) {
	keyed := func(o *httpapi.Options) { o.APIKeys = []string{matrixKeys["full"]} }
	p := startPeerPair(t, nil, keyed)
	st, raw, _ := p.do(t, "POST", "/groups/g1-k/join", `{"member_id":"m","topics":["orders"]}`)
	wantError(t, st, raw, api.ErrUnauthorized)
	st, raw, _ = p.do(t, "GET", "/groups/g1-k", "")
	wantError(t, st, raw, api.ErrUnauthorized)

	both := startPeerPair(t, func(_ *readingCluster, o *httpapi.Options) { keyed(o) }, keyed)
	if st, raw := sendWithKey(t, both.node2, matrixKeys["full"], "POST", "/groups/g1-k/join", `{"member_id":"m","topics":["orders"]}`); st != http.StatusOK {
		t.Fatalf("join through a node checking keys: %d %s", st, raw)
	}
}

// A reset copying a group another node coordinates reads its offsets
// there as the caller: a keyless node is no way around the source's
// coordinator's keys, and a scoped key reads only what it may. The read
// went with full access, so a node without keys answered any group's
// offsets on a node requiring them (a dry run shows them).
func TestResetReadsTheSourceAsItsCaller(t *testing.T) {
	keyed := func(o *httpapi.Options) { o.APIKeys = []string{matrixKeys["full"]} }
	p := startPeerPair(t, nil, keyed)
	if st, raw := sendWithKey(t, p.node1, matrixKeys["full"], "POST", "/groups/g1-src/offsets/reset", `{"to":"offsets","offsets":{"orders":{"0":0}}}`); st != http.StatusOK {
		t.Fatalf("set g1-src's offsets on node 1: %d %s", st, raw)
	}
	st, raw, _ := p.do(t, "POST", "/groups/g2-copy/offsets/reset", `{"to":"group","from_group":"g1-src","dry_run":true}`)
	wantError(t, st, raw, api.ErrUnauthorized)
	if p.last.Path != "/groups/g1-src/offsets" || !p.last.Keyless {
		t.Fatalf("the source's offsets asked of node 1 as %+v, want a keyless read", p.last)
	}

	scoped := "g2adm-0123456789abcdef:admin=g2*;group=g1-src"
	both := startPeerPair(t, func(_ *readingCluster, o *httpapi.Options) { o.APIKeys = []string{scoped} },
		func(o *httpapi.Options) { o.APIKeys = []string{scoped, matrixKeys["full"]} })
	if st, raw := sendWithKey(t, both.node1, matrixKeys["full"], "POST", "/groups/g1-src/offsets/reset", `{"to":"offsets","offsets":{"orders":{"0":0}}}`); st != http.StatusOK {
		t.Fatalf("set g1-src's offsets on node 1: %d %s", st, raw)
	}
	if st, raw := sendWithKey(t, both.node2, scoped, "POST", "/groups/g2-copy/offsets/reset", `{"to":"group","from_group":"g1-src","dry_run":true}`); st != http.StatusOK {
		t.Fatalf("a copy the key may read: %d %s", st, raw)
	}
	if both.last.Scope == nil || *both.last.Scope != "group=g1-src;admin=g2*" {
		t.Fatalf("the source's offsets asked with scope %v, want the key's", both.last.Scope)
	}
}

// A member that joined through another node is recorded with its
// client's host, not the node's: GET /groups/{g} shows it.
func TestPassedOnJoinRecordsTheClientsHost(t *testing.T) {
	p := startPeerPair(t, nil)
	a := p.node1.Handler().ServePeer(context.Background(), httpapi.PeerRequest{Method: "POST", Path: "/groups/g1-h/join",
		Body: []byte(`{"member_id":"m","topics":["orders"]}`), RemoteAddr: "10.0.0.5:41234"}, 0)
	if a.Status != http.StatusOK {
		t.Fatalf("join: %d %s", a.Status, a.Body)
	}
	var d api.GroupDescription
	if st := p.node1.DoJSON("GET", "/groups/g1-h", nil, &d); st != http.StatusOK || len(d.Members) != 1 || d.Members[0].ClientHost != "10.0.0.5" {
		t.Fatalf("described: %d %+v", st, d.Members)
	}
}

// A long poll passed on fits in the call that carries it: node 2 gives
// the coordinator the poll's wait as node 2 caps it (its max wait) and
// the writes' bound, and the coordinator ends the poll by then whatever
// its own cap, answering no messages; it caps the wait as node 2 does.
func TestPassedOnPollWaitsWithinTheCall(t *testing.T) {
	p := startPeerPair(t, func(_ *readingCluster, o *httpapi.Options) { o.MaxWait = 300 * time.Millisecond })
	if st, raw, _ := p.do(t, "POST", "/groups/g1-w/join", `{"member_id":"m","topics":["orders"]}`); st != 200 {
		t.Fatalf("join: %d %s", st, raw)
	}
	for _, c := range []struct {
		body string
		want time.Duration // Within
	}{
		{`{"member_id":"m","generation":1,"wait_ms":60000}`, httpapi.PeerWriteWait + 300*time.Millisecond},
		{`{"member_id":"m","generation":1,"wait_ms":100}`, httpapi.PeerWriteWait + 100*time.Millisecond},
		{`{"member_id":"m","generation":1}`, httpapi.PeerWriteWait},
		{`{"member_id":"m","generation":1,"wait_ms":-1}`, httpapi.PeerWriteWait},
	} {
		start := time.Now()
		p.do(t, "POST", "/groups/g1-w/poll", c.body)
		if p.last.Within != c.want || p.last.MaxWait != 300*time.Millisecond {
			t.Fatalf("poll %s passed on to be served within %v, waiting at most %v; want %v, 300ms", c.body, p.last.Within, p.last.MaxWait, c.want)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("poll %s took %v: the coordinator's own cap (30 s) applied, not node 2's", c.body, took)
		}
	}
	start := time.Now()
	a := p.node1.Handler().ServePeer(context.Background(), httpapi.PeerRequest{Method: "POST", Path: "/groups/g1-w/poll",
		Body: []byte(`{"member_id":"m","generation":1,"wait_ms":20000}`), Within: 200 * time.Millisecond}, 0)
	if took := time.Since(start); a.Status != http.StatusOK || took > 5*time.Second {
		t.Fatalf("a 20 s poll to be served within 200 ms: %d %s after %v", a.Status, a.Body, took)
	}
}

// A poll passed on keeps its answer within what the cluster link carries
// back: the messages that would not fit are handed back, deliverable at
// once, and a message that alone would not fit is refused (it is polled
// on the coordinator). JSON takes a control character as six bytes, so
// the poll's byte budget alone does not bound the answer.
func TestPassedOnPollFitsTheAnswerLimit(t *testing.T) {
	p := startPeerPair(t, nil)
	const n = 6
	for range n {
		if _, err := p.node1.Broker().Publish("orders", []broker.Message{{Value: bytes.Repeat([]byte{1}, 40), Partition: 0}}); err != nil {
			t.Fatal(err)
		}
	}
	if st, raw := p.node1.Do("POST", "/groups/g1-big/join", `{"member_id":"m","topics":["orders"]}`); st != 200 {
		t.Fatalf("join: %d %s", st, raw)
	}
	poll := func(maxAnswer int) httpapi.PeerAnswer {
		return p.node1.Handler().ServePeer(context.Background(), httpapi.PeerRequest{Method: "POST", Path: "/groups/g1-big/poll",
			Body: []byte(`{"member_id":"m","generation":1,"max_bytes":1000000}`), Within: time.Second}, maxAnswer)
	}
	a := poll(250) // a message takes 40×6 bytes and its fields
	wantError(t, a.Status, a.Body, api.ErrMessageTooLarge)
	seen := map[int64]bool{}
	for i := 0; len(seen) < n; i++ {
		if i == n {
			t.Fatalf("after %d polls seen offsets %v of %d", i, seen, n)
		}
		a := poll(1000)
		var got api.PollResponse
		if a.Status != http.StatusOK || len(a.Body) > 1000 {
			t.Fatalf("poll %d: %d, %d bytes: %s", i, a.Status, len(a.Body), a.Body)
		}
		if mustUnmarshal(t, a.Body, &got); len(got.Messages) == 0 || len(got.Messages) == n {
			t.Fatalf("poll %d took %d messages, want some, not all", i, len(got.Messages))
		}
		for _, m := range got.Messages {
			if seen[m.Offset] {
				t.Fatalf("offset %d delivered again", m.Offset)
			}
			seen[m.Offset] = true
		}
	}
}

// A request passed on by a peer is charged to the coordinator's budget of
// bodies being decoded, as its own clients' are: a full budget answers
// TOO_MANY_REQUESTS (retriable), and the peers' writes cannot make the
// coordinator decode more than it allows.
func TestPassedOnBodiesChargeTheCoordinatorsBudget(t *testing.T) {
	p := startPeerPair(t, nil)
	h := p.node1.Handler()
	const all = httpapi.DefaultMaxDecodingBytes
	if !h.TakeBodies(all) {
		t.Fatal("the budget is not free")
	}
	join := httpapi.PeerRequest{Method: "POST", Path: "/groups/g1-b/join", Body: []byte(`{"member_id":"m","topics":["orders"]}`)}
	a := h.ServePeer(context.Background(), join, 0)
	wantError(t, a.Status, a.Body, api.ErrTooManyRequests)
	h.GiveBodies(all)
	if a := h.ServePeer(context.Background(), join, 0); a.Status != http.StatusOK {
		t.Fatalf("join with the budget free: %d %s", a.Status, a.Body)
	}
}

// A poll passed on asking for a binary answer (stored batches, or
// batches), whose answer would not fit in what the cluster link carries
// back (a stored batch goes whole, past the poll's byte budget), hands
// its messages back: a poll on the coordinator gets them at once, where
// they stayed in flight for an answer that could not go.
func TestPassedOnBinaryPollTooLargeHandsBack(t *testing.T) {
	p := startPeerPair(t, nil)
	if _, err := p.node1.Broker().Publish("orders", []broker.Message{{Value: bytes.Repeat([]byte("x"), 300), Partition: 0}}); err != nil {
		t.Fatal(err)
	}
	for _, accept := range []string{api.PollStoredContentType, api.PollBatchesContentType} {
		t.Run(accept, func(t *testing.T) {
			group := "/groups/g1-" + strings.TrimPrefix(accept, "application/x-goqueue-")
			if st, raw := p.node1.Do("POST", group+"/join", `{"member_id":"m","topics":["orders"]}`); st != 200 {
				t.Fatalf("join: %d %s", st, raw)
			}
			poll := `{"member_id":"m","generation":1}`
			a := p.node1.Handler().ServePeer(context.Background(), httpapi.PeerRequest{Method: "POST", Path: group + "/poll",
				Header: http.Header{"Accept": {accept}}, Body: []byte(poll), Within: time.Second}, 250)
			wantError(t, a.Status, a.Body, api.ErrMessageTooLarge)
			var got api.PollResponse
			if st := p.node1.DoJSON("POST", group+"/poll", poll, &got); st != http.StatusOK || len(got.Messages) != 1 {
				t.Fatalf("a poll on the coordinator after: %d %+v", st, got)
			}
		})
	}
}
