package broker

import (
	"path/filepath"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/history"
)

// rebalancesFile, in the data directory, keeps the groups' closed
// rebalances across restarts.
const rebalancesFile = "rebalances.jsonl"

// groupHistory is what the broker remembers of its groups over time; both
// parts lock themselves.
type groupHistory struct {
	lag        *history.Lag        // sampled by Run every cfg.History.Interval
	rebalances *history.Rebalances // fed as rebalances close; flushed by Run and Close
}

func (b *Broker) openHistory() error {
	rb, err := history.OpenRebalances(filepath.Join(b.cfg.DataDir, rebalancesFile))
	if err != nil {
		return err
	}
	b.hist = groupHistory{lag: history.NewLag(b.cfg.History), rebalances: rb}
	return nil
}

// sampleHistory records every group's lag, then writes the rebalances
// closed since the last tick.
func (b *Broker) sampleHistory() {
	stats := b.GroupStats()
	samples := make([]history.GroupSample, len(stats))
	for i, g := range stats {
		samples[i].Group = g.Group
		samples[i].Partitions = make([]history.PartitionSample, len(g.Partitions))
		for j, p := range g.Partitions {
			samples[i].Partitions[j] = history.PartitionSample{Topic: p.Topic, Partition: p.Partition, Lag: p.Lag, TimeLag: p.TimeLag}
		}
	}
	b.hist.lag.Record(b.now(), samples)
	if err := b.hist.rebalances.Flush(); err != nil {
		b.log.Error("writing the rebalance history failed; retried at the next sample", "err", err)
	}
}

// recordRebalancesLocked hands the rebalances of cg that closed since the
// last call to the history (memory only: no I/O under the group's lock).
// Callers hold cg.mu.
func (c *coordinator) recordRebalancesLocked(cg *cgroup) {
	recent := cg.g.Rebalances(c.b.now()).Recent // newest first
	for _, r := range slices.Backward(recent) {
		if r.EndedAt == 0 || r.Generation <= cg.recorded {
			continue
		}
		cg.recorded = r.Generation
		c.b.hist.rebalances.Add(cg.id, r)
	}
}

// LagHistory returns groupID's lag from since to now in at most points
// points. Errors: GROUP_NOT_FOUND when the group neither exists nor has
// history.
func (b *Broker) LagHistory(groupID string, since time.Time, points int) (LagHistory, error) {
	h, ok := b.hist.lag.Query(groupID, since, b.now(), points)
	if !ok {
		// A group born since the last sample has an empty history.
		if _, err := b.coord.lookup(groupID); err != nil {
			return LagHistory{}, err
		}
	}
	return viewLagHistory(h), nil
}

// LagHistoryRetention is how far back LagHistory can see.
func (b *Broker) LagHistoryRetention() time.Duration { return b.hist.lag.Config().Retention }

// RebalanceHistory returns groupID's rebalances, newest first: the one in
// progress (from the live group), then the closed ones kept across
// restarts. Errors: GROUP_NOT_FOUND when the group neither exists nor has
// history.
func (b *Broker) RebalanceHistory(groupID string) ([]Rebalance, error) {
	out := []Rebalance{}
	closed := b.hist.rebalances.Group(groupID)
	if cg, err := b.coord.lookup(groupID); err == nil {
		cg.mu.Lock()
		if rs := cg.g.Rebalances(b.now()); rs.InProgress && len(rs.Recent) > 0 {
			out = append(out, viewRebalances(rs.Recent[:1])...)
		}
		cg.mu.Unlock()
	} else if len(closed) == 0 {
		return nil, err
	}
	return append(out, viewRebalances(closed)...), nil
}
