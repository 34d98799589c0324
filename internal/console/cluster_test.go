package console_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/console"
)

// clusterNode answers as node 1 of a three-node cluster whose node 2 is
// down and coordinates the group "billing": the answers a survivor gives
// (GET /cluster, GET /groups with node_id, NOT_COORDINATOR), in the wire
// types of package api.
func clusterNode(t *testing.T) *httptest.Server {
	t.Helper()
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ui/", console.New())
	mux.HandleFunc("GET /cluster", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.ClusterStatus{NodeID: 1, MetaLeader: 1, MetaTerm: 4,
			Nodes: []api.ClusterNode{
				{ID: 1, ClusterAddr: "127.0.0.1:7001", HTTPAddr: r.Host, Registered: true, Incarnation: 1, Alive: true},
				{ID: 2, ClusterAddr: "127.0.0.1:7002", HTTPAddr: "127.0.0.1:8082", Registered: true, Incarnation: 2},
				{ID: 3, ClusterAddr: "127.0.0.1:7003", HTTPAddr: "127.0.0.1:8083", Registered: true, Incarnation: 1, Alive: true},
			},
			Topics: []api.ClusterTopic{{Name: "orders", ID: "00", ReplicationFactor: 3, Partitions: []api.ClusterPartition{
				{Partition: 0, Group: 1, Replicas: []uint64{1, 2, 3}, Leader: 1, LeaderEpoch: 2, ISR: []uint64{1, 3}},
				{Partition: 1, Group: 2, Replicas: []uint64{2, 3, 1}, Leader: 3, LeaderEpoch: 5, ISR: []uint64{3, 1}},
			}}}})
	})
	mux.HandleFunc("GET /topics", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, api.TopicList{Topics: []api.Topic{}}) })
	mux.HandleFunc("GET /groups", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.GroupList{Groups: []api.GroupDescription{}, NodeID: 1, UnreachedNodes: []uint64{2}})
	})
	notHere := func(w http.ResponseWriter, r *http.Request) {
		e := api.ErrNotCoordinator.Withf("node 1 does not coordinate group billing; node 2 does").
			WithDetail("group", "billing").WithDetail("coordinator", 2).WithDetail("coordinator_addr", "127.0.0.1:8082")
		writeJSON(w, e.Status, api.ErrorBody{Error: e})
	}
	for _, p := range []string{"GET /groups/billing", "GET /groups/billing/lag-history", "GET /groups/billing/rebalances", "POST /groups/billing/offsets/reset"} {
		mux.HandleFunc(p, notHere)
	}
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// From a node of a cluster the console shows the nodes, which are down,
// and each partition's leader and replicas in sync; it says whose groups
// the overview misses (a node that did not answer), and sends to the
// coordinator a group another node serves. It showed none of the nodes, "No consumer
// groups yet" for groups of other nodes, and a bare NOT_COORDINATOR.
func TestConsoleInACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	s := clusterNode(t)
	ui := s.URL + "/ui/?poll=300"

	b.run(chromedp.Navigate(ui + "#/cluster"))
	b.waitJS("the nodes", `document.querySelectorAll('#nodes tbody tr').length === 3`, 10*time.Second)
	nodes := eval[[][]string](b, `[...document.querySelectorAll('#nodes tbody tr')].map(tr => [...tr.children].map(td => td.innerText))`)
	if nodes[1][0] != "2" || nodes[1][1] != "not heard from" || nodes[0][1] != "alive" || !strings.Contains(nodes[0][0], "this one") {
		t.Errorf("nodes: %q", nodes)
	}
	if href := eval[string](b, `document.querySelectorAll('#nodes tbody tr')[2].querySelector('a').href`); href != "http://127.0.0.1:8083/ui/#/cluster" {
		t.Errorf("node 3's console: %q", href)
	}
	leaders := eval[[][]string](b, `[...document.querySelectorAll('#leaders tbody tr')].map(tr => [...tr.children].map(td => td.innerText))`)
	if len(leaders) != 2 || leaders[1][0] != "orders/1" || leaders[1][1] != "node 3" || leaders[1][3] != "3, 1" {
		t.Errorf("partitions: %q", leaders)
	}
	if got := b.text(".stats"); !strings.Contains(got, "2 of 3") || !strings.Contains(got, "Under-replicated\n2") {
		t.Errorf("stats: %q", got)
	}
	b.shot("cluster")

	b.run(chromedp.Navigate(ui + "#/"))
	b.waitJS("whose groups the overview misses", `document.querySelector('#whose').innerText.includes("could not reach node 2")`, 10*time.Second)

	b.run(chromedp.Navigate(ui + "#/group/billing"))
	b.waitJS("where the group is", `document.querySelector('#elsewhere a')`, 10*time.Second)
	if href := eval[string](b, `document.querySelector('#elsewhere a').href`); href != "http://127.0.0.1:8082/ui/#/group/billing" {
		t.Errorf("the coordinator's console: %q", href)
	}
	if !eval[bool](b, `document.getElementById('error').hidden`) {
		t.Errorf("an error is shown: %s", b.text("#error"))
	}
	b.shot("group-elsewhere")

	b.run(chromedp.Navigate(ui + "#/reset/billing"))
	b.waitJS("where to reset the group", `document.querySelector('#rstate a')`, 10*time.Second)
	if href := eval[string](b, `document.querySelector('#rstate a').href`); href != "http://127.0.0.1:8082/ui/#/reset/billing" {
		t.Errorf("the coordinator's reset page: %q", href)
	}
	b.noErrors("421")
}

// A single broker's cluster page says it runs alone.
func TestConsoleClusterPageOfASingleBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	s := brokertest.Start(t)
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=300#/cluster"))
	b.waitJS("the page", `document.querySelector('#nodes').innerText.includes('runs alone')`, 10*time.Second)
	if !eval[bool](b, `document.getElementById('error').hidden`) {
		t.Errorf("an error is shown: %s", b.text("#error"))
	}
	b.noErrors("404")
}
