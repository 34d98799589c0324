package coordinator

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
func (c *Coordinator) GroupStats() []GroupStats {
	var out []GroupStats
	for _, cg := range c.all() {
		out = append(out, c.stats(cg))
	}
	return out
}

func (c *Coordinator) stats(cg *cgroup) GroupStats {
	now := c.now()
	v := c.externalView(cg.id)
	snap := c.snapshot(cg, now, v)
	d := snap.desc
	st := GroupStats{
		Group: cg.id, State: d.State, Generation: d.Generation, Members: len(d.Members),
		Assignor: d.Assignor, Rebalances: viewRebalanceStats(d.Rebalances), Partitions: c.partitionStats(snap, now),
	}
	if snap.external {
		st.State, st.Generation, st.Members, st.Assignor = v.State, v.Generation, len(v.Members), v.Assignor
		st.Rebalances = viewRebalanceStats(v.rebalances(d.Rebalances, now))
	}
	return st
}

// Groups describes every group, sorted by ID.
func (c *Coordinator) Groups() []GroupDescription {
	list := []GroupDescription{}
	for _, cg := range c.all() {
		list = append(list, c.describe(cg))
	}
	return list
}

// DescribeGroup describes one group: state, generation, assignor, members
// (with the peer host of each member's last request and what it holds in
// flight), per-partition progress and lag, and rebalance history.
// Errors: GROUP_NOT_FOUND.
func (c *Coordinator) DescribeGroup(groupID string) (GroupDescription, error) {
	cg, err := c.lookup(groupID)
	if err != nil {
		return GroupDescription{}, err
	}
	return c.describe(cg), nil
}

func (c *Coordinator) describe(cg *cgroup) GroupDescription {
	now := c.now()
	v := c.externalView(cg.id)
	snap := c.snapshot(cg, now, v)
	if snap.external {
		snap.desc.Rebalances = v.rebalances(snap.desc.Rebalances, now)
	}
	d := viewDescription(snap.desc)
	d.ExpiresAt = snap.expiresAt
	for i, ps := range c.partitionStats(snap, now) {
		d.Partitions = append(d.Partitions, PartitionStatus{
			Topic: ps.Topic, Partition: ps.Partition, Owner: snap.parts[i].owner,
			Committed: ps.Committed, HighWatermark: ps.HighWatermark,
			Lag: ps.Lag, TimeLag: ps.TimeLag, InFlight: ps.InFlight,
			Redelivered: ps.Redelivered, DeadLettered: ps.DeadLettered,
		})
		d.Lag += ps.Lag
	}
	if snap.external {
		d.overlay(v)
	}
	return d
}
