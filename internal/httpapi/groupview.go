package httpapi

import (
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// The consumer-group read models as the wire shows them: durations and
// times back to milliseconds.

// unixMS is t in ms since the epoch; 0 for the zero time (unknown, or not
// yet).
func unixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func groupDescription(d broker.GroupDescription) api.GroupDescription {
	out := api.GroupDescription{GroupID: d.ID, State: d.State, Generation: d.Generation, Assignor: d.Assignor,
		Members: make([]api.MemberDescription, len(d.Members)), Lag: d.Lag, Rebalances: rebalanceStats(d.Rebalances),
		ExpiresAt: unixMS(d.ExpiresAt)}
	for i, m := range d.Members {
		out.Members[i] = api.MemberDescription{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID,
			ClientHost: m.ClientHost, Generation: m.Generation, AssignedPartitions: api.Assignment(m.Assigned),
			RevokingPartitions: api.Assignment(m.Revoking), TargetPartitions: api.Assignment(m.Target), Topics: m.Topics,
			TopicRegex: m.TopicRegex, SessionTimeoutMS: m.SessionTimeout.Milliseconds(), LastHeartbeat: unixMS(m.LastHeartbeat), Idle: m.Idle, InFlight: m.InFlight}
	}
	if d.Partitions != nil {
		out.Partitions = make([]api.PartitionStatus, len(d.Partitions))
		for i, p := range d.Partitions {
			out.Partitions[i] = api.PartitionStatus{Topic: p.Topic, Partition: p.Partition, Owner: p.Owner,
				CommittedOffset: p.Committed, HighWatermark: p.HighWatermark, Lag: p.Lag, TimeLagMS: p.TimeLag.Milliseconds(),
				InFlight: p.InFlight, Redelivered: p.Redelivered, DeadLettered: p.DeadLettered}
		}
	}
	return out
}

func rebalanceStats(s broker.RebalanceStats) api.RebalanceStats {
	out := api.RebalanceStats{Count: s.Count, ByReason: s.ByReason, TotalDurationMS: s.TotalDuration.Milliseconds(), InProgress: s.InProgress}
	if s.Recent != nil {
		out.Recent = rebalances(s.Recent)
	}
	return out
}

func rebalances(rs []broker.Rebalance) []api.Rebalance {
	out := make([]api.Rebalance, len(rs))
	for i, r := range rs {
		out[i] = api.Rebalance{Generation: r.Generation, Reason: r.Reason, StartedAt: unixMS(r.StartedAt),
			EndedAt: unixMS(r.EndedAt), DurationMS: r.Duration.Milliseconds()}
		if r.Moved != nil {
			out[i].Moved = make([]api.Move, len(r.Moved))
			for j, m := range r.Moved {
				out[i].Moved[j] = api.Move(m)
			}
		}
	}
	return out
}

func lagHistory(groupID string, h broker.LagHistory) api.LagHistory {
	out := api.LagHistory{GroupID: groupID, IntervalMS: h.Interval.Milliseconds(), StepMS: h.Step.Milliseconds(),
		Times: make([]int64, len(h.Times)), Lag: h.Lag, TimeLagMS: make([]int64, len(h.TimeLag)),
		Partitions: make([]api.PartitionLagHistory, len(h.Partitions))}
	for i, t := range h.Times {
		out.Times[i] = t.UnixMilli()
	}
	for i, d := range h.TimeLag {
		out.TimeLagMS[i] = d.Milliseconds()
	}
	for i, p := range h.Partitions {
		out.Partitions[i] = api.PartitionLagHistory(p)
	}
	return out
}
