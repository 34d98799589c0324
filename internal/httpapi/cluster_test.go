package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// fakeCluster answers Status with a fixed view or error.
type fakeCluster struct {
	st  api.ClusterStatus
	err error
}

func (f fakeCluster) Status(context.Context) (api.ClusterStatus, error) { return f.st, f.err }

// GET /cluster answers NOT_CLUSTERED on a single broker, the node's view in
// a cluster (topics filtered by the key's scope), and the node's coded
// error when no read point can be had.
func TestClusterRoute(t *testing.T) {
	single := brokertest.Start(t)
	st, raw := single.Do("GET", "/cluster", nil)
	wantError(t, st, raw, api.ErrNotClustered)

	view := api.ClusterStatus{NodeID: 2, MetaLeader: 1, Nodes: []api.ClusterNode{{ID: 1, Alive: true}, {ID: 2, Alive: true}},
		Topics: []api.ClusterTopic{{Name: "orders"}, {Name: "secret"}}}
	keys := []string{"root", "scoped:consume=orders"}
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster, o.APIKeys = fakeCluster{st: view}, keys
	}))
	for key, want := range map[string]int{keys[0]: 2, keys[1]: 1} {
		st, raw := sendWithKey(t, s, key, "GET", "/cluster", "")
		var got api.ClusterStatus
		mustUnmarshal(t, raw, &got)
		if st != http.StatusOK || got.MetaLeader != 1 || len(got.Nodes) != 2 || len(got.Topics) != want {
			t.Fatalf("key %s: %d %s", key, st, raw)
		}
	}

	down := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = fakeCluster{err: api.ErrUnavailable.Withf("no leader")}
	}))
	st, raw = down.Do("GET", "/cluster", nil)
	wantError(t, st, raw, api.ErrUnavailable)
}
