package metrics

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// groupStates are the states goqueue_group_state reports, one series each.
var groupStates = []string{api.GroupStateEmpty, api.GroupStateReconciling, api.GroupStateStable, api.GroupStateDead}

// groupCollector turns broker.GroupStats into metrics at scrape time.
// Labels are group, topic, partition and rebalance reason: bounded by what
// operators create, never by members or messages.
type groupCollector struct {
	src Source

	members, generation, state, rebalancing *prometheus.Desc
	rebalances, rebalanceSeconds            *prometheus.Desc
	committed, hwm, lag, timeLag, inFlight  *prometheus.Desc
	redelivered, deadLettered               *prometheus.Desc

	// durations holds the rebalance duration histogram. Rebalances are
	// observed when a scrape first sees them closed in a group's recent
	// history, so more rebalances between two scrapes than the history
	// keeps (10) are counted by goqueue_group_rebalances_total but not all
	// observed here.
	durations *prometheus.HistogramVec
	mu        sync.Mutex       // serialises Collect; guards lastGen
	lastGen   map[string]int64 // group → generation of the newest closed rebalance observed
}

func newGroupCollector(src Source) *groupCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("goqueue_group_"+name, help, labels, nil)
	}
	gp := []string{"group", "topic", "partition"}
	return &groupCollector{
		src:              src,
		members:          d("members", "Members of the group.", "group"),
		generation:       d("generation", "The group's generation (epoch).", "group"),
		state:            d("state", "1 for the group's current state, 0 for the others.", "group", "state"),
		rebalancing:      d("rebalance_in_progress", "1 while a rebalance is in progress.", "group"),
		rebalances:       d("rebalances_total", "Rebalances started, by reason.", "group", "reason"),
		rebalanceSeconds: d("rebalance_seconds_total", "Time spent in rebalances (the one in progress counted until now).", "group"),
		committed:        d("committed_offset", "Committed offset (next to deliver); -1 before the first commit.", gp...),
		hwm:              d("high_watermark", "High watermark of the partition, as the group sees it.", gp...),
		lag:              d("lag_messages", "Messages of the partition the group has not consumed.", gp...),
		timeLag:          d("lag_seconds", "Age of the oldest message the group has not consumed; 0 when caught up.", gp...),
		inFlight:         d("in_flight_messages", "Messages delivered to members and not yet acknowledged.", gp...),
		redelivered:      d("redelivered_messages_total", "Messages delivered again (nack, visibility timeout, handoff).", gp...),
		deadLettered:     d("dead_lettered_messages_total", "Messages moved to the dead-letter topic.", gp...),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "goqueue_group_rebalance_duration_seconds",
			Help:    "Duration of closed rebalances: from the change of target until every member owns its target.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"group"}),
		lastGen: map[string]int64{},
	}
}

func (c *groupCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.members, c.generation, c.state, c.rebalancing, c.rebalances,
		c.rebalanceSeconds, c.committed, c.hwm, c.lag, c.timeLag, c.inFlight, c.redelivered, c.deadLettered} {
		ch <- d
	}
	c.durations.Describe(ch)
}

func (c *groupCollector) Collect(ch chan<- prometheus.Metric) {
	groups := c.src.GroupStats()
	c.mu.Lock()
	defer c.mu.Unlock()
	live := make(map[string]bool, len(groups))
	for i := range groups {
		g := &groups[i]
		live[g.Group] = true
		gauge := func(d *prometheus.Desc, v float64, lv ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{g.Group}, lv...)...)
		}
		gauge(c.members, float64(g.Members))
		gauge(c.generation, float64(g.Generation))
		for _, s := range groupStates {
			gauge(c.state, b2f(g.State == s), s)
		}
		gauge(c.rebalancing, b2f(g.Rebalances.InProgress))
		for reason, n := range g.Rebalances.ByReason {
			ch <- prometheus.MustNewConstMetric(c.rebalances, prometheus.CounterValue, float64(n), g.Group, reason)
		}
		ch <- prometheus.MustNewConstMetric(c.rebalanceSeconds, prometheus.CounterValue, float64(g.Rebalances.TotalDurationMS)/1000, g.Group)
		c.observeRebalancesLocked(g)
		for _, p := range g.Partitions {
			lv := []string{p.Topic, strconv.Itoa(int(p.Partition))}
			gauge(c.committed, float64(p.Committed), lv...)
			gauge(c.hwm, float64(p.HighWatermark), lv...)
			gauge(c.lag, float64(p.Lag), lv...)
			gauge(c.timeLag, p.TimeLag.Seconds(), lv...)
			gauge(c.inFlight, float64(p.InFlight), lv...)
			ch <- prometheus.MustNewConstMetric(c.redelivered, prometheus.CounterValue, float64(p.Redelivered), append([]string{g.Group}, lv...)...)
			ch <- prometheus.MustNewConstMetric(c.deadLettered, prometheus.CounterValue, float64(p.DeadLettered), append([]string{g.Group}, lv...)...)
		}
	}
	for g := range c.lastGen {
		if !live[g] {
			delete(c.lastGen, g)
			c.durations.DeleteLabelValues(g)
		}
	}
	c.durations.Collect(ch)
}

// observeRebalancesLocked observes the closed rebalances of g not seen by an
// earlier scrape. Recent is newest first; generations only grow.
func (c *groupCollector) observeRebalancesLocked(g *broker.GroupStats) {
	last, seen := c.lastGen[g.Group]
	newest := last
	h := c.durations.WithLabelValues(g.Group)
	for _, r := range g.Rebalances.Recent {
		if r.EndedAt == 0 {
			continue // still open
		}
		if seen && r.Generation <= last {
			break
		}
		h.Observe(float64(r.DurationMS) / 1000)
		newest = max(newest, r.Generation)
	}
	c.lastGen[g.Group] = newest
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
