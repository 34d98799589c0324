package broker

import (
	"time"
)

// GroupStats is a read-only snapshot of one consumer group, for metrics.
type GroupStats struct {
	Group      string
	State      string // api.GroupState*
	Generation int64
	Members    int
	Assignor   string
	// Rebalances counts rebalances by reason, the total time spent in them
	// (the one in progress counted until now) and whether one is running.
	Rebalances RebalanceStats
	Partitions []GroupPartitionStats
}

// GroupPartitionStats is a group's progress on one partition.
type GroupPartitionStats struct {
	Topic         string
	Partition     int32
	Committed     int64         // next offset to deliver; -1: none yet
	HighWatermark int64         // offset after the partition's last message
	Lag           int64         // messages not yet consumed
	TimeLag       time.Duration // age of the oldest message not consumed; 0 when caught up
	InFlight      int
	Redelivered   int64 // since the broker started
	DeadLettered  int64 // since the broker started
}

// GroupStats returns a snapshot of every group, sorted by group ID. It takes
// each group's lock briefly, one at a time.
func (b *Broker) GroupStats() []GroupStats {
	var out []GroupStats
	for _, cg := range b.coord.all() {
		out = append(out, b.coord.stats(cg))
	}
	return out
}

func (c *coordinator) stats(cg *cgroup) GroupStats {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	now := c.b.now()
	d := cg.g.Describe(now)
	return GroupStats{
		Group: cg.id, State: d.State, Generation: d.Generation, Members: len(d.Members),
		Assignor: d.Assignor, Rebalances: viewRebalanceStats(d.Rebalances), Partitions: c.partitionStatsLocked(cg, now),
	}
}

// Groups describes every group, sorted by ID.
func (b *Broker) Groups() []GroupDescription {
	list := []GroupDescription{}
	for _, cg := range b.coord.all() {
		list = append(list, b.coord.describe(cg))
	}
	return list
}

// DescribeGroup describes one group: state, generation, assignor, members
// (with the peer host of each member's last request and what it holds in
// flight), per-partition progress and lag, and rebalance history.
// Errors: GROUP_NOT_FOUND.
func (b *Broker) DescribeGroup(groupID string) (GroupDescription, error) {
	cg, err := b.coord.lookup(groupID)
	if err != nil {
		return GroupDescription{}, err
	}
	return b.coord.describe(cg), nil
}

func (c *coordinator) describe(cg *cgroup) GroupDescription {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	now := c.b.now()
	d := viewDescription(cg.g.Describe(now))
	for i := range d.Members {
		m := &d.Members[i]
		if h, ok := cg.hosts[m.MemberID]; ok {
			m.ClientHost = h
		}
		m.InFlight = cg.d.InFlight(m.MemberID)
	}
	for _, ps := range c.partitionStatsLocked(cg, now) {
		owner, _ := cg.g.Owner(ps.Topic, ps.Partition)
		d.Partitions = append(d.Partitions, PartitionStatus{
			Topic: ps.Topic, Partition: ps.Partition, Owner: owner,
			Committed: ps.Committed, HighWatermark: ps.HighWatermark,
			Lag: ps.Lag, TimeLag: ps.TimeLag, InFlight: ps.InFlight,
			Redelivered: ps.Redelivered, DeadLettered: ps.DeadLettered,
		})
		d.Lag += ps.Lag
	}
	return d
}
