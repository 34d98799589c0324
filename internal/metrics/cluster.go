package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ClusterStats is a cluster node's replication as it stands: which peers
// it hears from, and its Raft groups (the metadata's, the partitions', the
// consumer group shards').
type ClusterStats struct {
	PeersUp map[uint64]bool // every other node: heard from within the failure detector's window
	Hosted  int             // Raft groups with a replica here
	Led     int             // of those, led from here
	Quiet   int             // of those, quiesced: idle, no heartbeats until something happens
	// Lost counts the cluster's partitions that can never have a leader
	// again (PARTITION_LOST), the same on every node that applied the
	// metadata: an alert's figure.
	Lost int
}

// ClusterSource gives a cluster node's stats at scrape time. An error (its
// Raft loop did not answer in time, or it is stopping) leaves the cluster
// series out of that scrape rather than report stale figures.
type ClusterSource interface {
	ClusterStats(ctx context.Context) (ClusterStats, error)
}

// clusterWait bounds a scrape's wait for the node's Raft loop, which a
// slow fsync may hold; Prometheus's own scrape timeout is 10 s.
const clusterWait = 2 * time.Second

// clusterCollector turns ClusterStats into metrics at scrape time.
type clusterCollector struct {
	src                  ClusterSource
	peerUp               *prometheus.Desc
	hosted, led, quietly *prometheus.Desc
	lost                 *prometheus.Desc
}

func newClusterCollector(src ClusterSource) *clusterCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("goqueue_cluster_"+name, help, labels, nil)
	}
	return &clusterCollector{
		src:     src,
		peerUp:  d("peer_up", "1 if this node heard from the peer within the failure detector's window (2 s), else 0.", "node"),
		hosted:  d("raft_groups", "Raft groups with a replica on this node: the metadata's, the partitions', the consumer group shards'."),
		led:     d("raft_groups_led", "Raft groups this node leads."),
		quietly: d("raft_groups_quiet", "Raft groups quiesced on this node: idle, sending no heartbeats until a proposal or a peer's failure wakes them."),
		lost:    d("partitions_lost", "Partitions of the cluster that can never have a leader again: replicas they need were on disks that are gone (their reads and writes answer PARTITION_LOST)."),
	}
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.peerUp, c.hosted, c.led, c.quietly, c.lost} {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	s, err := c.src.ClusterStats(ctx)
	if err != nil {
		return
	}
	for id, up := range s.PeersUp {
		ch <- prometheus.MustNewConstMetric(c.peerUp, prometheus.GaugeValue, b2f(up), strconv.FormatUint(id, 10))
	}
	ch <- prometheus.MustNewConstMetric(c.hosted, prometheus.GaugeValue, float64(s.Hosted))
	ch <- prometheus.MustNewConstMetric(c.led, prometheus.GaugeValue, float64(s.Led))
	ch <- prometheus.MustNewConstMetric(c.quietly, prometheus.GaugeValue, float64(s.Quiet))
	ch <- prometheus.MustNewConstMetric(c.lost, prometheus.GaugeValue, float64(s.Lost))
}
