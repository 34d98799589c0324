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
	// external: the group's members are another front end's (ExternalView)
	external bool
	// expiresAt: when offsets retention deletes the group if it stays
	// unused (expiresAtLocked).
	expiresAt time.Time
}

type partitionSnapshot struct {
	tp        delivery.TP
	committed int64 // -1: none
	stats     delivery.Stats
	owner     string
	// lagUnknown: none committed by members another front end runs,
	// whose clients choose where they start (Kafka's auto.offset.reset):
	// the lag is not known until they commit.
	lagUnknown bool
	// start: where offset_reset latest starts a partition the group has
	// no state on yet (groupstate.Group.LatestStart); 0: its earliest.
	start int64
}

// snapshot copies cg's description (members with their hosts and
// in-flight counts) and its progress on every partition of the topics it
// subscribes to and every partition it has offsets for, the committed
// offsets as written (writtenView: not waiting for writes in progress).
// ext is what another front end runs of the group (nil: nothing); when
// the group has no members of its own they are its members, and the
// partitions of the topics they subscribe to count as subscribed (before
// their first commit too).
func (c *Coordinator) snapshot(cg *cgroup, now time.Time, ext *ExternalView) groupSnapshot {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	d := cg.a.Describe(now)
	topics := cg.a.Topics()
	external := ext != nil && len(d.Members) == 0
	if external {
		topics = ext.topics()
	}
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
	for _, t := range topics {
		if top, err := c.b.Topic(t); err == nil {
			for p := range top.Logs {
				add(delivery.TP{Topic: t, Partition: int32(p)})
			}
		}
	}
	for _, tp := range cg.a.Partitions() {
		add(tp)
	}
	written := cg.writtenViewLocked()
	for _, tp := range written.partitions() {
		add(tp)
	}
	slices.SortFunc(tps, compareTP)
	s := groupSnapshot{desc: d, parts: make([]partitionSnapshot, 0, len(tps)), external: external, expiresAt: c.expiresAtLocked(cg)}
	for _, tp := range tps {
		ps := partitionSnapshot{tp: tp, committed: -1, stats: cg.a.Stats(tp)}
		if off, ok := written.committed(tp); ok {
			ps.committed = off
		} else {
			ps.lagUnknown = external
			// Lag counted from the earliest offset showed a latest group
			// behind by every message it will never be given, until its
			// first poll.
			ps.start, _ = cg.a.LatestStart(tp)
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
// from where the group starts the partition: the earliest offset held, or
// for offset_reset latest the high watermark it recorded; where it is
// unknown: 0); time lag
// is now − the timestamp of the record at the committed offset (0 when
// caught up).
func (c *Coordinator) partitionStats(s groupSnapshot, now time.Time) []GroupPartitionStats {
	out := make([]GroupPartitionStats, 0, len(s.parts))
	for _, p := range s.parts {
		ps := GroupPartitionStats{Topic: p.tp.Topic, Partition: p.tp.Partition, Committed: p.committed,
			InFlight: p.stats.InFlight, Redelivered: p.stats.Redelivered, DeadLettered: p.stats.DeadLettered}
		if l := c.partitionLog(p.tp); l != nil {
			st := l.Stats()
			ps.HighWatermark = st.HighWatermark
			if !p.lagUnknown {
				ps.Lag, ps.TimeLag = c.lag(p.tp, l, max(ps.Committed, st.EarliestOffset, p.start), st.HighWatermark, now)
			}
		}
		out = append(out, ps)
	}
	return out
}

// lag is how far tp's log l is ahead of a reader at offset from: messages,
// and the age of the message at from (0 when caught up).
func (c *Coordinator) lag(tp delivery.TP, l *commitlog.Log, from, hwm int64, now time.Time) (int64, time.Duration) {
	n := max(hwm-from, 0)
	if n == 0 {
		return 0, 0
	}
	if ts, ok := c.io.timestamp(tp, l, from); ok {
		return n, max(now.Sub(time.UnixMilli(ts)), 0)
	}
	return n, 0
}

// partitionLog returns tp's log, or nil if it no longer exists.
func (c *Coordinator) partitionLog(tp delivery.TP) *commitlog.Log {
	l, err := c.b.Partition(tp.Topic, tp.Partition)
	if err != nil {
		return nil
	}
	return l
}
