package metrics

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// groupCollector turns broker.GroupStats into metrics at scrape time.
//
// Cardinality is bounded per group, not per group × partition or per
// histogram bucket: 10,000 one-member groups once made 690,000 series and a
// 50 MB scrape. By default a group has a handful of series, plus five per
// topic it consumes (lag summed over partitions, time lag as the oldest,
// in flight, redelivered, dead-lettered); rebalance durations go to one
// broker-wide histogram. Per-partition series (committed offset, high
// watermark, lag...) are opt-in with Options.GroupPartitions.
type groupCollector struct {
	src        Source
	partitions bool // Options.GroupPartitions; immutable

	members, generation, state, rebalancing *prometheus.Desc
	// expired is broker-wide: a label per expired group would grow
	// with every group that ever went.
	expired                      *prometheus.Desc
	rebalances, rebalanceSeconds *prometheus.Desc
	// Per group and topic.
	lag, timeLag, inFlight, redelivered, deadLettered *prometheus.Desc
	// Per group, topic and partition (Options.GroupPartitions).
	pCommitted, pHWM, pLag, pTimeLag, pInFlight *prometheus.Desc

	// durations is the broker-wide rebalance duration histogram. Rebalances
	// are observed when a scrape first sees them closed in a group's recent
	// history, so more rebalances between two scrapes than the history
	// keeps (10) are counted by goqueue_group_rebalances_total but not all
	// observed here.
	durations prometheus.Histogram
	mu        sync.Mutex       // serialises Collect; guards lastGen
	lastGen   map[string]int64 // group → generation of the newest closed rebalance observed
}

func newGroupCollector(src Source, opts Options) *groupCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("goqueue_group_"+name, help, labels, nil)
	}
	gt := []string{"group", "topic"}
	gp := []string{"group", "topic", "partition"}
	return &groupCollector{
		src:              src,
		partitions:       opts.GroupPartitions,
		members:          d("members", "Members of the group.", "group"),
		expired:          prometheus.NewDesc("goqueue_groups_expired_total", "Consumer groups deleted with their offsets after staying empty for --offsets-retention, since the broker started.", nil, nil),
		generation:       d("generation", "The group's generation (epoch).", "group"),
		state:            d("state", "Always 1; the state label is the group's current state.", "group", "state"),
		rebalancing:      d("rebalance_in_progress", "1 while a rebalance is in progress.", "group"),
		rebalances:       d("rebalances_total", "Rebalances started, by reason.", "group", "reason"),
		rebalanceSeconds: d("rebalance_seconds_total", "Time spent in rebalances (the one in progress counted until now).", "group"),
		lag:              d("lag_messages", "Messages of the topic the group has not consumed, over its partitions.", gt...),
		timeLag:          d("lag_seconds", "Age of the oldest message of the topic the group has not consumed; 0 when caught up.", gt...),
		inFlight:         d("in_flight_messages", "Messages delivered to members and not yet acknowledged.", gt...),
		redelivered:      d("redelivered_messages_total", "Messages delivered again (nack, visibility timeout, handoff).", gt...),
		deadLettered:     d("dead_lettered_messages_total", "Messages moved to the dead-letter topic.", gt...),
		pCommitted:       d("partition_committed_offset", "Committed offset (next to deliver); -1 before the first commit.", gp...),
		pHWM:             d("partition_high_watermark", "High watermark of the partition, as the group sees it.", gp...),
		pLag:             d("partition_lag_messages", "Messages of the partition the group has not consumed.", gp...),
		pTimeLag:         d("partition_lag_seconds", "Age of the oldest message of the partition the group has not consumed.", gp...),
		pInFlight:        d("partition_in_flight_messages", "Messages of the partition delivered and not yet acknowledged.", gp...),
		durations: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "goqueue_group_rebalance_duration_seconds",
			Help:    "Duration of closed rebalances of every group: from the change of target until every member owns its target.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
		lastGen: map[string]int64{},
	}
}

func (c *groupCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.expired, c.members, c.generation, c.state, c.rebalancing, c.rebalances,
		c.rebalanceSeconds, c.lag, c.timeLag, c.inFlight, c.redelivered, c.deadLettered} {
		ch <- d
	}
	if c.partitions {
		for _, d := range []*prometheus.Desc{c.pCommitted, c.pHWM, c.pLag, c.pTimeLag, c.pInFlight} {
			ch <- d
		}
	}
	c.durations.Describe(ch)
}

// topicSums is one group's partitions of one topic, summed.
type topicSums struct {
	lag, inFlight, redelivered, deadLettered int64
	timeLag                                  float64 // the oldest
}

func (c *groupCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.expired, prometheus.CounterValue, float64(c.src.GroupsExpired()))
	groups := c.src.GroupStats()
	c.mu.Lock()
	defer c.mu.Unlock()
	live := make(map[string]bool, len(groups))
	for i := range groups {
		g := &groups[i]
		live[g.Group] = true
		metric := func(d *prometheus.Desc, t prometheus.ValueType, v float64, lv ...string) {
			ch <- prometheus.MustNewConstMetric(d, t, v, append([]string{g.Group}, lv...)...)
		}
		metric(c.members, prometheus.GaugeValue, float64(g.Members))
		metric(c.generation, prometheus.GaugeValue, float64(g.Generation))
		metric(c.state, prometheus.GaugeValue, 1, g.State)
		metric(c.rebalancing, prometheus.GaugeValue, b2f(g.Rebalances.InProgress))
		for reason, n := range g.Rebalances.ByReason {
			metric(c.rebalances, prometheus.CounterValue, float64(n), reason)
		}
		metric(c.rebalanceSeconds, prometheus.CounterValue, g.Rebalances.TotalDuration.Seconds())
		c.observeRebalancesLocked(g)

		var topics []string // in first-seen order
		sums := map[string]*topicSums{}
		for _, p := range g.Partitions {
			s := sums[p.Topic]
			if s == nil {
				s = &topicSums{}
				sums[p.Topic] = s
				topics = append(topics, p.Topic)
			}
			s.lag += p.Lag
			s.inFlight += int64(p.InFlight)
			s.redelivered += p.Redelivered
			s.deadLettered += p.DeadLettered
			s.timeLag = max(s.timeLag, p.TimeLag.Seconds())
			if c.partitions {
				lv := []string{p.Topic, strconv.Itoa(int(p.Partition))}
				metric(c.pCommitted, prometheus.GaugeValue, float64(p.Committed), lv...)
				metric(c.pHWM, prometheus.GaugeValue, float64(p.HighWatermark), lv...)
				metric(c.pLag, prometheus.GaugeValue, float64(p.Lag), lv...)
				metric(c.pTimeLag, prometheus.GaugeValue, p.TimeLag.Seconds(), lv...)
				metric(c.pInFlight, prometheus.GaugeValue, float64(p.InFlight), lv...)
			}
		}
		for _, t := range topics {
			s := sums[t]
			metric(c.lag, prometheus.GaugeValue, float64(s.lag), t)
			metric(c.timeLag, prometheus.GaugeValue, s.timeLag, t)
			metric(c.inFlight, prometheus.GaugeValue, float64(s.inFlight), t)
			metric(c.redelivered, prometheus.CounterValue, float64(s.redelivered), t)
			metric(c.deadLettered, prometheus.CounterValue, float64(s.deadLettered), t)
		}
	}
	for g := range c.lastGen {
		if !live[g] {
			delete(c.lastGen, g)
		}
	}
	c.durations.Collect(ch)
}

// observeRebalancesLocked observes the closed rebalances of g not seen by an
// earlier scrape. Recent is newest first; generations only grow.
func (c *groupCollector) observeRebalancesLocked(g *broker.GroupStats) {
	last, seen := c.lastGen[g.Group]
	newest := last
	for _, r := range g.Rebalances.Recent {
		if r.EndedAt.IsZero() {
			continue // still open
		}
		if seen && r.Generation <= last {
			break
		}
		c.durations.Observe(r.Duration.Seconds())
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
