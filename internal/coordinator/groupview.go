package coordinator

import (
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// The read models of consumer groups: what DescribeGroup, Groups,
// RebalanceHistory and LagHistory answer, in the broker's vocabulary
// (durations and times, not milliseconds). internal/group and
// internal/history still build the wire's shapes; the views* functions
// below are the one place they become these.

// GroupDescription is one group as DescribeGroup sees it.
type GroupDescription struct {
	ID         string
	State      string // api.GroupState*
	Generation int64
	Assignor   string
	Members    []MemberDescription // never nil
	Partitions []PartitionStatus
	Lag        int64 // sum of the partitions' offset lag
	Rebalances RebalanceStats
	// ExpiresAt is when offsets retention deletes the group if nothing
	// uses it before (groupexpiry.go); zero while it has members, or with
	// no retention.
	ExpiresAt time.Time
}

// MemberDescription is one member: ClientHost is the peer address of its
// last request; an idle member (more members than partitions) has an empty
// assignment.
type MemberDescription struct {
	MemberID       string
	InstanceID     string
	ClientID       string
	ClientHost     string
	Generation     int64
	Assigned       Assignment // never nil
	Revoking       Assignment
	Target         Assignment // its share once the group settles
	Topics         []string
	TopicRegex     string // a regex subscription's source; "" for one by name
	SessionTimeout time.Duration
	LastHeartbeat  time.Time
	Idle           bool
	InFlight       int
}

// PartitionStatus is a group's progress on one partition. Committed is -1
// when nothing is committed; TimeLag is the age of the oldest message not
// consumed.
type PartitionStatus struct {
	Topic         string
	Partition     int32
	Owner         string
	Committed     int64
	HighWatermark int64
	Lag           int64
	TimeLag       time.Duration
	InFlight      int
	Redelivered   int64
	DeadLettered  int64
}

// RebalanceStats counts a group's rebalances; Recent holds the last few,
// newest first.
type RebalanceStats struct {
	Count         int64
	ByReason      map[string]int64
	TotalDuration time.Duration
	InProgress    bool
	Recent        []Rebalance
}

// Rebalance is one change of a group's target assignment. EndedAt is zero
// while it runs.
type Rebalance struct {
	Generation int64
	Reason     string // member_joined, member_left, session_timeout, ...
	StartedAt  time.Time
	EndedAt    time.Time
	Duration   time.Duration
	Moved      []Move
}

// Move is one partition that changed owner; an empty From or To means it
// had or got no owner.
type Move struct {
	Topic     string
	Partition int32
	From, To  string
}

// LagHistory is a group's lag over time: points Step wide starting at
// Times[i], each the peak of the samples inside it or -1 where none was,
// sampled every Interval.
type LagHistory struct {
	Interval   time.Duration
	Step       time.Duration
	Times      []time.Time
	Lag        []int64         // the sum over partitions
	TimeLag    []time.Duration // the largest of any partition; -1 ms where no sample was
	Partitions []PartitionLagHistory
}

// PartitionLagHistory is one partition's offset lag at a LagHistory's
// points.
type PartitionLagHistory struct {
	Topic     string
	Partition int32
	Lag       []int64
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// viewDescription is d as the broker's read model.
func viewDescription(d api.GroupDescription) GroupDescription {
	out := GroupDescription{ID: d.GroupID, State: d.State, Generation: d.Generation, Assignor: d.Assignor,
		Members: make([]MemberDescription, len(d.Members)), Lag: d.Lag, Rebalances: viewRebalanceStats(d.Rebalances)}
	for i, m := range d.Members {
		out.Members[i] = MemberDescription{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID,
			ClientHost: m.ClientHost, Generation: m.Generation, Assigned: nonNil(m.AssignedPartitions),
			Revoking: Assignment(m.RevokingPartitions), Target: Assignment(m.TargetPartitions), Topics: m.Topics,
			TopicRegex: m.TopicRegex, SessionTimeout: msDuration(m.SessionTimeoutMS), LastHeartbeat: msTime(m.LastHeartbeat), Idle: m.Idle, InFlight: m.InFlight}
	}
	return out
}

func viewRebalanceStats(s api.RebalanceStats) RebalanceStats {
	out := RebalanceStats{Count: s.Count, ByReason: s.ByReason, TotalDuration: msDuration(s.TotalDurationMS), InProgress: s.InProgress}
	if s.Recent != nil {
		out.Recent = viewRebalances(s.Recent)
	}
	return out
}

func viewRebalances(rs []api.Rebalance) []Rebalance {
	out := make([]Rebalance, len(rs))
	for i, r := range rs {
		out[i] = Rebalance{Generation: r.Generation, Reason: r.Reason, StartedAt: msTime(r.StartedAt),
			EndedAt: msTime(r.EndedAt), Duration: msDuration(r.DurationMS)}
		if r.Moved != nil {
			out[i].Moved = make([]Move, len(r.Moved))
			for j, m := range r.Moved {
				out[i].Moved[j] = Move(m)
			}
		}
	}
	return out
}

func viewLagHistory(h api.LagHistory) LagHistory {
	out := LagHistory{Interval: msDuration(h.IntervalMS), Step: msDuration(h.StepMS), Lag: h.Lag,
		Times: make([]time.Time, len(h.Times)), TimeLag: make([]time.Duration, len(h.TimeLagMS)),
		Partitions: make([]PartitionLagHistory, len(h.Partitions))}
	for i, t := range h.Times {
		out.Times[i] = time.UnixMilli(t)
	}
	for i, ms := range h.TimeLagMS {
		out.TimeLag[i] = msDuration(ms)
	}
	for i, p := range h.Partitions {
		out.Partitions[i] = PartitionLagHistory(p)
	}
	return out
}
