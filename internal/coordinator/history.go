package coordinator

import (
	"context"
	"path/filepath"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/history"
	"github.com/abd-ulbasit/goqueue/internal/periodic"
)

// rebalancesFile, in the data directory, keeps the groups' closed
// rebalances across restarts.
const rebalancesFile = "rebalances.jsonl"

// groupHistory is what the coordinator remembers of its groups over time; both
// parts lock themselves.
type groupHistory struct {
	lag        *history.Lag        // sampled by Run every cfg.History.Interval
	rebalances *history.Rebalances // fed as rebalances close; flushed by Run and Close
}

func (c *Coordinator) openHistory() error {
	rb, err := history.OpenRebalances(filepath.Join(c.opts.DataDir, rebalancesFile))
	if err != nil {
		return err
	}
	c.hist = groupHistory{lag: history.NewLag(c.opts.History), rebalances: rb}
	return nil
}

// sampleHistory records every group's lag, then writes the rebalances
// closed since the last tick.
func (c *Coordinator) sampleHistory() {
	stats := c.GroupStats()
	samples := make([]history.GroupSample, len(stats))
	for i, g := range stats {
		samples[i].Group = g.Group
		samples[i].Partitions = make([]history.PartitionSample, len(g.Partitions))
		for j, p := range g.Partitions {
			samples[i].Partitions[j] = history.PartitionSample{Topic: p.Topic, Partition: p.Partition, Lag: p.Lag, TimeLag: p.TimeLag}
		}
	}
	c.hist.lag.Record(c.now(), samples)
	if err := c.hist.rebalances.Flush(); err != nil {
		c.log.Error("writing the rebalance history failed; retried at the next sample", "err", err)
	}
}

// sampleLoop calls sampleHistory every history interval until ctx ends.
func (c *Coordinator) sampleLoop(ctx context.Context) error {
	periodic.Every(ctx, c.hist.lag.Config().Interval, c.sampleHistory)
	return nil
}

// recordRebalancesLocked hands the rebalances of cg that closed since the
// last call to the history (memory only: no I/O under the group's lock).
// Callers hold cg.mu.
func (c *Coordinator) recordRebalancesLocked(cg *cgroup) {
	recent := cg.a.Rebalances(c.now()).Recent // newest first
	for _, r := range slices.Backward(recent) {
		if r.EndedAt == 0 || r.Generation <= cg.recorded {
			continue
		}
		cg.recorded = r.Generation
		c.hist.rebalances.Add(cg.id, r)
	}
}

// LagHistory returns groupID's lag from since to now in at most points
// points. Errors: GROUP_NOT_FOUND when the group neither exists nor has
// history.
func (c *Coordinator) LagHistory(groupID string, since time.Time, points int) (LagHistory, error) {
	h, ok := c.hist.lag.Query(groupID, since, c.now(), points)
	if !ok {
		// A group born since the last sample has an empty history.
		if _, err := c.lookup(groupID); err != nil {
			return LagHistory{}, err
		}
	}
	return viewLagHistory(h), nil
}

// LagHistoryRetention is how far back LagHistory can see.
func (c *Coordinator) LagHistoryRetention() time.Duration { return c.hist.lag.Config().Retention }

// RebalanceHistory returns groupID's rebalances, newest first: the one in
// progress (from the live group), then the closed ones kept across
// restarts. Errors: GROUP_NOT_FOUND when the group neither exists nor has
// history.
func (c *Coordinator) RebalanceHistory(groupID string) ([]Rebalance, error) {
	out := []Rebalance{}
	closed := c.hist.rebalances.Group(groupID)
	if cg, err := c.lookup(groupID); err == nil {
		v := c.externalView(groupID)
		cg.mu.Lock()
		rs, empty := cg.a.Rebalances(c.now()), cg.a.Empty()
		cg.mu.Unlock()
		if v != nil && empty {
			rs = v.rebalances(rs, c.now())
		}
		if rs.InProgress && len(rs.Recent) > 0 {
			out = append(out, viewRebalances(rs.Recent[:1])...)
		}
	} else if len(closed) == 0 {
		return nil, err
	}
	return append(out, viewRebalances(closed)...), nil
}
