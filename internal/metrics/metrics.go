// Package metrics exposes a broker to Prometheus. It owns a private registry
// and the HTTP request histograms; everything else it reads from broker
// snapshots at scrape time, so serving a request costs no metric work beyond
// one histogram observation, and label sets are bounded by topics,
// partitions, groups and route patterns — never by messages or member IDs;
// per group, by its topics unless Options.GroupPartitions asks for more.
// It is the only package that imports Prometheus.
package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// Source is what the collectors read at scrape time; *broker.Broker is one.
type Source interface {
	LogStats() broker.LogStats
	GroupStats() []broker.GroupStats
	// GroupsExpired counts the groups deleted by offsets retention
	// (--offsets-retention) since the broker started.
	GroupsExpired() int64
}

// Metrics is one broker's registry. Its methods are safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry     // private: no global state, one per broker
	requests *prometheus.HistogramVec // route, code; immutable after New
	inFlight prometheus.Gauge
}

// Options choose optional series.
type Options struct {
	// GroupPartitions adds per group × topic × partition series
	// (goqueue_group_partition_*): one set per partition of every
	// group's subscription, so off by default.
	GroupPartitions bool
	// Cluster, on a cluster node, adds its replication series
	// (goqueue_cluster_*); nil on a single broker.
	Cluster ClusterSource
}

// New registers the collectors of src (and of the Go runtime and process)
// in a fresh registry. version is reported by goqueue_build_info.
func New(src Source, version string, opts Options) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "goqueue_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and status code.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "goqueue_http_requests_in_flight",
			Help: "HTTP requests being served (long-polls included).",
		}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "goqueue_build_info",
		Help:        "Always 1; the labels say what is running.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	build.Set(1)
	m.reg.MustRegister(
		m.requests, m.inFlight, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newLogCollector(src),
		newGroupCollector(src, opts),
	)
	if opts.Cluster != nil {
		m.reg.MustRegister(newClusterCollector(opts.Cluster))
	}
	return m
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Unrouted is the route label of requests that matched no route, so that
// scanners probing random paths cannot grow the label set.
const Unrouted = "unrouted"

// RequestStarted counts a request in flight; call the returned function when
// it ends with its route pattern (e.g. "GET /topics/{topic}", or Unrouted)
// and status code.
func (m *Metrics) RequestStarted() func(route string, code int) {
	start := time.Now()
	m.inFlight.Inc()
	return func(route string, code int) {
		m.inFlight.Dec()
		m.requests.WithLabelValues(route, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
	}
}
