package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// groupCluster is fakeCluster whose groups are placed: a group named
// "g1..." is coordinated by node 1, any other by node 2; none is known
// while unknown is set.
type groupCluster struct {
	fakeCluster
	unknown bool
	// electing names the groups (by prefix) whose coordinator is not
	// known, as while their shard elects a leader.
	electing string
}

func (g groupCluster) Coordinator(group string) (uint64, bool) {
	if g.unknown || g.electing != "" && strings.HasPrefix(group, g.electing) {
		return 0, false
	}
	if strings.HasPrefix(group, "g1") {
		return 1, true
	}
	return 2, true
}

// On node 2, every route naming a group another node coordinates answers
// 421 NOT_COORDINATOR naming the coordinator and its HTTP address, before
// touching the group; the groups node 2 coordinates work as on a single
// broker (a join's answer names node 2), and GET /groups lists only them.
// With no coordinator known the routes answer UNAVAILABLE (retriable).
func TestGroupRoutesRefuseOtherCoordinators(t *testing.T) {
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = groupCluster{fakeCluster: fakeCluster{self: 2}}
	}))
	if _, err := s.Broker().CreateTopic(broker.TopicSpec{Name: "orders", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	// A local group of node 1's share, as if made before the nodes all
	// registered: it is neither served nor listed.
	if _, err := s.Broker().StoreOffsets("g1-old", broker.Offsets{"orders": {0: 0}}, nil, false); err != nil {
		t.Fatal(err)
	}
	st, raw := s.Do("POST", "/groups/g2-mine/join", `{"topics":["orders"]}`)
	var joined api.JoinResponse
	mustUnmarshal(t, raw, &joined)
	if st != http.StatusOK || joined.NodeID != 2 {
		// The answer names the node: the member learns the other nodes then.
		t.Fatalf("join of node 2's group: %d %s", st, raw)
	}
	routes := []struct{ method, path, body string }{
		{"POST", "/groups/g1-x/join", `{"topics":["orders"]}`},
		{"POST", "/groups/g1-x/heartbeat", `{"member_id":"m","generation":1}`},
		{"POST", "/groups/g1-x/leave", `{"member_id":"m"}`},
		{"POST", "/groups/g1-x/poll", `{"member_id":"m","generation":1}`},
		{"POST", "/groups/g1-x/ack", `{"member_id":"m","generation":1,"messages":[]}`},
		{"POST", "/groups/g1-x/offsets", `{"offsets":{"orders":{"0":0}}}`},
		{"GET", "/groups/g1-x/offsets", ""},
		{"POST", "/groups/g1-x/offsets/reset", `{"to":"earliest"}`},
		{"GET", "/groups/g1-x", ""},
		{"GET", "/groups/g1-old", ""},
		{"DELETE", "/groups/g1-old", ""},
		{"GET", "/groups/g1-x/rebalances", ""},
	}
	for _, rt := range routes {
		var body any
		if rt.body != "" {
			body = rt.body
		}
		st, raw := s.Do(rt.method, rt.path, body)
		e := wantError(t, st, raw, api.ErrNotCoordinator)
		if c, _ := e.Details["coordinator"].(float64); c != 1 || e.Details["coordinator_addr"] != "127.0.0.1:8001" || !e.Retriable {
			t.Fatalf("%s %s: %s", rt.method, rt.path, raw)
		}
	}
	var list api.GroupList
	st, raw = s.Do("GET", "/groups", nil)
	mustUnmarshal(t, raw, &list)
	if st != http.StatusOK || len(list.Groups) != 1 || list.Groups[0].GroupID != "g2-mine" || list.NodeID != 2 {
		t.Fatalf("GET /groups on node 2: %d %s", st, raw)
	}

	starting := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = groupCluster{fakeCluster: fakeCluster{self: 2}, unknown: true}
	}))
	st, raw = starting.Do("GET", "/groups/g2-mine", nil)
	e := wantError(t, st, raw, api.ErrUnavailable)
	// A coordinator is unknown while one is elected or takes the group
	// over (each node's stop and start in a rolling restart), long after
	// the node knows the cluster's nodes: the answer says that, not that
	// the nodes are unknown, which sent operators looking at membership.
	if strings.Contains(e.Message, "nodes") || !strings.Contains(e.Message, "elected") || e.Details["group"] != "g2-mine" {
		t.Fatalf("no coordinator known: %s", raw)
	}
}

// listingCluster is groupCluster whose other nodes list peers' groups,
// and fail to answer for unreached.
type listingCluster struct {
	groupCluster
	peers     []api.GroupDescription
	unreached []uint64
}

func (l listingCluster) PeerGroups(context.Context) ([]api.GroupDescription, []uint64) {
	return l.peers, l.unreached
}

// GET /groups on a cluster node lists the groups it coordinates and those
// the other nodes answered with, once each (this node's view of a group
// both list, one being handed over, comes first), sorted; it says whether
// every node answered and names those that did not.
func TestListGroupsAsksTheOtherNodes(t *testing.T) {
	peers := []api.GroupDescription{{GroupID: "g1-b", State: "stable"}, {GroupID: "g2-mine", State: "dead"}, {GroupID: "g1-a", State: "empty"}}
	for _, unreached := range [][]uint64{nil, {3}} {
		s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
			o.Cluster = listingCluster{groupCluster: groupCluster{fakeCluster: fakeCluster{self: 2}}, peers: peers, unreached: unreached}
		}))
		if _, err := s.Broker().CreateTopic(broker.TopicSpec{Name: "orders", Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		if st, raw := s.Do("POST", "/groups/g2-mine/join", `{"topics":["orders"]}`); st != http.StatusOK {
			t.Fatalf("join: %d %s", st, raw)
		}
		var list api.GroupList
		st, raw := s.Do("GET", "/groups", nil)
		mustUnmarshal(t, raw, &list)
		var ids []string
		for _, g := range list.Groups {
			ids = append(ids, g.GroupID+"/"+g.State)
		}
		if st != http.StatusOK || strings.Join(ids, " ") != "g1-a/empty g1-b/stable g2-mine/stable" || list.NodeID != 2 ||
			list.Complete != (len(unreached) == 0) || !slices.Equal(list.UnreachedNodes, unreached) {
			t.Fatalf("GET /groups with nodes %v unreached: %d %s", unreached, st, raw)
		}
	}
}
