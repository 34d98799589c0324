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

// TestRequestOutlivesAFailover: the node serving a request (a group's
// coordinator, a partition's leader) dies; the node the client knows goes
// on naming it, then names no node while its Raft group elects (about a
// second here in all), then names the new one. The request must wait that
// out and reach it, not give up after the transport's few quick tries (an
// ack so lost had its messages delivered again; a publish failed in every
// election).
func TestRequestOutlivesAFailover(t *testing.T) {
	for _, tc := range failoverCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			dead := httptest.NewServer(http.NotFoundHandler())
			deadAddr := strings.TrimPrefix(dead.URL, "http://")
			dead.Close()
			good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(tc.answer)
			}))
			t.Cleanup(good.Close)
			var mu sync.Mutex
			var electedAt time.Time // zero until the node is first asked
			node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				addr := deadAddr
				switch now := time.Now(); {
				case electedAt.IsZero():
					electedAt = now.Add(time.Second)
				case now.Before(electedAt.Add(-time.Second / 2)):
					// The node has not noticed the other died.
				case now.Before(electedAt):
					addr = "" // electing: no node serves it yet
				default:
					addr = strings.TrimPrefix(good.URL, "http://")
				}
				mu.Unlock()
				e := tc.redirect.Withf("not this node")
				if addr != "" {
					e = e.WithDetail(tc.addrKey, addr)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(e.Status)
				_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: e})
			}))
			t.Cleanup(node.Close)
			tc.sendVia(t, node.URL, "a failover")
		})
	}
}

// failoverCase is a request that one node serves, the redirect naming it,
// and its answer.
type failoverCase struct {
	name     string
	redirect *api.Error
	addrKey  string
	answer   any
	send     func(context.Context, *client.Client) error
}

// sendVia sends tc's request with a client of the node at url, and fails
// t unless it succeeds within 20 s (through what the node goes through).
func (tc failoverCase) sendVia(t *testing.T, url, through string) {
	t.Helper()
	c, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tc.send(ctx, c); err != nil {
		t.Fatalf("%s through %s: %v", tc.name, through, err)
	}
}

func failoverCases(t *testing.T) []failoverCase {
	return []failoverCase{
		{
			name: "group", redirect: api.ErrNotCoordinator, addrKey: "coordinator_addr",
			answer: api.GroupDescription{GroupID: "g", State: "Stable"},
			send: func(ctx context.Context, c *client.Client) error {
				g, err := c.Group(ctx, "g")
				if err == nil && g.GroupID != "g" {
					t.Errorf("group answer %+v", g)
				}
				return err
			},
		},
		{
			name: "publish", redirect: api.ErrNotLeader, addrKey: "leader_addr",
			answer: api.PublishResponse{Offsets: []api.PublishResult{{Partition: 0, Offset: 7}}},
			send: func(ctx context.Context, c *client.Client) error {
				r, err := c.Publish(ctx, "t", api.PublishMessage{Value: []byte(`"v"`)})
				if err == nil && (len(r.Offsets) != 1 || r.Offsets[0].Offset != 7) {
					t.Errorf("publish answer %+v", r)
				}
				return err
			},
		},
	}
}

// TestRequestOutlivesAnElection: a node answering that no node serves the
// request yet (UNAVAILABLE: an election under way, as a node just
// restarted on an empty disk answers) for longer than doAt's quick tries
// is asked again until it serves it. goqueue consume, started against such
// a node, gave up after five tries.
func TestRequestOutlivesAnElection(t *testing.T) {
	for _, tc := range failoverCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var electedAt time.Time // zero until the node is first asked
			node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				if electedAt.IsZero() {
					electedAt = time.Now().Add(1500 * time.Millisecond)
				}
				electing := time.Now().Before(electedAt)
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				if electing {
					e := api.ErrUnavailable.Withf("partition t/0 has no leader yet (an election is under way)")
					w.WriteHeader(e.Status)
					_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: e})
					return
				}
				_ = json.NewEncoder(w).Encode(tc.answer)
			}))
			t.Cleanup(node.Close)
			tc.sendVia(t, node.URL, "an election")
		})
	}
}
