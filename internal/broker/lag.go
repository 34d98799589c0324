package broker

import (
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// partitionStatsLocked returns the group's progress on every partition of
// the topics it subscribes to and every partition it has offsets for,
// sorted. Callers hold cg.mu.
//
// Lag is high watermark − committed offset (with none committed, counted
// from the earliest offset held); time lag is now − the timestamp of the
// record at the committed offset (0 when caught up).
func (c *coordinator) partitionStatsLocked(cg *cgroup, now time.Time) []GroupPartitionStats {
	seen := make(map[delivery.TP]bool)
	var tps []delivery.TP
	add := func(tp delivery.TP) {
		if !seen[tp] {
			seen[tp] = true
			tps = append(tps, tp)
		}
	}
	for _, t := range cg.g.Topics() {
		if top, err := c.b.lookup(t); err == nil {
			for _, p := range top.parts {
				add(delivery.TP{Topic: t, Partition: p.id})
			}
		}
	}
	for _, tp := range cg.d.Partitions() {
		add(tp)
	}
	slices.SortFunc(tps, func(a, b delivery.TP) int {
		switch {
		case a.Topic != b.Topic:
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	out := make([]GroupPartitionStats, 0, len(tps))
	for _, tp := range tps {
		ps := GroupPartitionStats{Topic: tp.Topic, Partition: tp.Partition, Committed: -1}
		ds := cg.d.Stats(tp)
		if cg.d.Has(tp) {
			ps.Committed = ds.Committed
		}
		ps.InFlight, ps.Redelivered, ps.DeadLettered = ds.InFlight, ds.Redelivered, ds.DeadLettered
		if l := c.partitionLog(tp); l != nil {
			st := l.Stats()
			ps.HighWatermark = st.HighWatermark
			from := max(ps.Committed, st.EarliestOffset)
			ps.Lag = max(st.HighWatermark-from, 0)
			if ps.Lag > 0 {
				if recs, err := l.Read(from, 1, 1); err == nil && len(recs) > 0 {
					ps.TimeLag = max(now.Sub(time.UnixMilli(recs[0].Timestamp)), 0)
				}
			}
		}
		out = append(out, ps)
	}
	return out
}

// partitionLog returns tp's log, or nil if it no longer exists.
func (c *coordinator) partitionLog(tp delivery.TP) *commitlog.Log {
	t, err := c.b.lookup(tp.Topic)
	if err != nil {
		return nil
	}
	p, err := t.partition(tp.Partition)
	if err != nil {
		return nil
	}
	return p.log
}
