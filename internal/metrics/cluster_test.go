package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type fakeCluster struct {
	stats ClusterStats
	err   error
}

func (f *fakeCluster) ClusterStats(context.Context) (ClusterStats, error) { return f.stats, f.err }

// A cluster node's scrape carries its peers' liveness and its Raft groups;
// a single broker's carries no cluster series, nor does a scrape the
// node's Raft loop did not answer in time.
func TestClusterMetrics(t *testing.T) {
	hasCluster := func(s map[string]float64) bool {
		for series := range s {
			if strings.HasPrefix(series, "goqueue_cluster_") {
				return true
			}
		}
		return false
	}
	if hasCluster(scrape(t, New(&fakeSource{}, "dev", Options{}))) {
		t.Error("a single broker reports cluster series")
	}

	src := &fakeCluster{stats: ClusterStats{PeersUp: map[uint64]bool{2: true, 3: false}, Hosted: 1004, Led: 335, Quiet: 1001, Lost: 2}}
	m := New(&fakeSource{}, "dev", Options{Cluster: src})
	s := scrape(t, m)
	want(t, s, `goqueue_cluster_peer_up{node="2"}`, 1)
	want(t, s, `goqueue_cluster_peer_up{node="3"}`, 0)
	want(t, s, "goqueue_cluster_raft_groups", 1004)
	want(t, s, "goqueue_cluster_raft_groups_led", 335)
	want(t, s, "goqueue_cluster_raft_groups_quiet", 1001)
	want(t, s, "goqueue_cluster_partitions_lost", 2)

	src.err = errors.New("stopping")
	if hasCluster(scrape(t, m)) {
		t.Error("a scrape whose stats failed reports cluster series")
	}
}
