package coordinator

import (
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// groupSnapshot is what stats and descriptions read of a group, copied
// under its lock; the logs are read after it is released.
type groupSnapshot struct {
	desc  api.GroupDescription
	parts []partitionSnapshot // sorted
}

type partitionSnapshot struct {
	tp        delivery.TP
	committed int64 // -1: none
	stats     delivery.Stats
	owner     string
}

// snapshot copies cg's description (members with their hosts and
// in-flight counts) and its progress on every partition of the topics it
// subscribes to and every partition it has offsets for.
func (c *Coordinator) snapshot(cg *cgroup, now time.Time) groupSnapshot {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	d := cg.a.Describe(now)
	for i := range d.Members {
		m := &d.Members[i]
		if h, ok := cg.a.Host(m.MemberID); ok {
			m.ClientHost = h
		}
		m.InFlight = cg.a.InFlight(m.MemberID)
	}
	seen := make(map[delivery.TP]bool)
	var tps []delivery.TP
	add := func(tp delivery.TP) {
		if !seen[tp] {
			seen[tp] = true
			tps = append(tps, tp)
		}
	}
	for _, t := range cg.a.Topics() {
		if top, err := c.b.Topic(t); err == nil {
			for p := range top.Logs {
				add(delivery.TP{Topic: t, Partition: int32(p)})
			}
		}
	}
	for _, tp := range cg.a.Partitions() {
		add(tp)
	}
	slices.SortFunc(tps, compareTP)
	s := groupSnapshot{desc: d, parts: make([]partitionSnapshot, 0, len(tps))}
	for _, tp := range tps {
		ps := partitionSnapshot{tp: tp, committed: -1, stats: cg.a.Stats(tp)}
		if cg.a.Has(tp) {
			ps.committed = ps.stats.Committed
		}
		ps.owner, _ = cg.a.Owner(tp.Topic, tp.Partition)
		s.parts = append(s.parts, ps)
	}
	return s
}

// partitionStats returns the progress of s's partitions, reading the logs
// (no lock held).
//
// Lag is high watermark − committed offset (with none committed, counted
// from the earliest offset held); time lag is now − the timestamp of the
// record at the committed offset (0 when caught up).
func (c *Coordinator) partitionStats(s groupSnapshot, now time.Time) []GroupPartitionStats {
	out := make([]GroupPartitionStats, 0, len(s.parts))
	for _, p := range s.parts {
		ps := GroupPartitionStats{Topic: p.tp.Topic, Partition: p.tp.Partition, Committed: p.committed,
			InFlight: p.stats.InFlight, Redelivered: p.stats.Redelivered, DeadLettered: p.stats.DeadLettered}
		if l := c.partitionLog(p.tp); l != nil {
			st := l.Stats()
			ps.HighWatermark = st.HighWatermark
			from := max(ps.Committed, st.EarliestOffset)
			ps.Lag = max(st.HighWatermark-from, 0)
			if ps.Lag > 0 {
				if ts, ok := c.io.timestamp(p.tp, l, from); ok {
					ps.TimeLag = max(now.Sub(time.UnixMilli(ts)), 0)
				}
			}
		}
		out = append(out, ps)
	}
	return out
}

// partitionLog returns tp's log, or nil if it no longer exists.
func (c *Coordinator) partitionLog(tp delivery.TP) *commitlog.Log {
	l, err := c.b.Partition(tp.Topic, tp.Partition)
	if err != nil {
		return nil
	}
	return l
}
