package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

func billing() []broker.GroupStats {
	return []broker.GroupStats{{
		Group: "billing", State: api.GroupStateReconciling, Generation: 3, Members: 2,
		Rebalances: broker.RebalanceStats{
			Count: 3, ByReason: map[string]int64{"member_joined": 2, "member_left": 1},
			TotalDuration: 1500 * time.Millisecond, InProgress: true,
			Recent: []broker.Rebalance{
				{Generation: 3, Reason: "member_left", StartedAt: time.UnixMilli(100)},                                                                // open
				{Generation: 2, Reason: "member_joined", StartedAt: time.UnixMilli(50), EndedAt: time.UnixMilli(60), Duration: 10 * time.Millisecond}, // closed
				{Generation: 1, Reason: "member_joined", StartedAt: time.UnixMilli(1), EndedAt: time.UnixMilli(3), Duration: 2000 * time.Millisecond},
			},
		},
		Partitions: []broker.GroupPartitionStats{
			{Topic: "orders", Partition: 4, Committed: 10, HighWatermark: 25, Lag: 15,
				TimeLag: 2500 * time.Millisecond, InFlight: 3, Redelivered: 7, DeadLettered: 1},
			{Topic: "orders", Partition: 5, Committed: 1, HighWatermark: 6, Lag: 5,
				TimeLag: 500 * time.Millisecond, InFlight: 1, Redelivered: 2, DeadLettered: 0},
		},
	}}
}

func TestGroupMetrics(t *testing.T) {
	src := &fakeSource{groups: billing(), expired: 4}
	m := New(src, "dev", Options{})
	s := scrape(t, m)
	gt := `{group="billing",topic="orders"}`
	want(t, s, "goqueue_groups_expired_total", 4)
	want(t, s, `goqueue_group_members{group="billing"}`, 2)
	want(t, s, `goqueue_group_generation{group="billing"}`, 3)
	want(t, s, `goqueue_group_state{group="billing",state="reconciling"}`, 1)
	want(t, s, `goqueue_group_rebalance_in_progress{group="billing"}`, 1)
	want(t, s, `goqueue_group_rebalances_total{group="billing",reason="member_joined"}`, 2)
	want(t, s, `goqueue_group_rebalances_total{group="billing",reason="member_left"}`, 1)
	want(t, s, `goqueue_group_rebalance_seconds_total{group="billing"}`, 1.5)
	// Per topic: sums over the partitions, the oldest time lag.
	want(t, s, "goqueue_group_lag_messages"+gt, 20)
	want(t, s, "goqueue_group_lag_seconds"+gt, 2.5)
	want(t, s, "goqueue_group_in_flight_messages"+gt, 4)
	want(t, s, "goqueue_group_redelivered_messages_total"+gt, 9)
	want(t, s, "goqueue_group_dead_lettered_messages_total"+gt, 1)
	// One broker-wide histogram.
	want(t, s, `goqueue_group_rebalance_duration_seconds_count`, 2)
	want(t, s, `goqueue_group_rebalance_duration_seconds_sum`, 2.01)
	want(t, s, `goqueue_group_rebalance_duration_seconds_bucket{le="0.01"}`, 1)
	for series := range s {
		if strings.HasPrefix(series, "goqueue_group_partition_") {
			t.Errorf("per-partition series without the option: %s", series)
		}
	}

	// A second scrape observes only what closed since.
	want(t, scrape(t, m), `goqueue_group_rebalance_duration_seconds_count`, 2)
	g := &src.groups[0]
	g.Rebalances.Recent[0].EndedAt, g.Rebalances.Recent[0].Duration = time.UnixMilli(400), 300*time.Millisecond
	g.Rebalances.InProgress = false
	s = scrape(t, m)
	want(t, s, `goqueue_group_rebalance_duration_seconds_count`, 3)
	want(t, s, `goqueue_group_rebalance_in_progress{group="billing"}`, 0)

	// A deleted group's series go away.
	src.groups = nil
	for series := range scrape(t, m) {
		if strings.HasPrefix(series, "goqueue_group_") && !strings.HasPrefix(series, "goqueue_group_rebalance_duration_seconds") {
			t.Errorf("series of a deleted group: %s", series)
		}
	}
}

func TestGroupPartitionMetricsOption(t *testing.T) {
	s := scrape(t, New(&fakeSource{groups: billing()}, "dev", Options{GroupPartitions: true}))
	gp := `{group="billing",partition="4",topic="orders"}`
	want(t, s, "goqueue_group_partition_committed_offset"+gp, 10)
	want(t, s, "goqueue_group_partition_high_watermark"+gp, 25)
	want(t, s, "goqueue_group_partition_lag_messages"+gp, 15)
	want(t, s, "goqueue_group_partition_lag_seconds"+gp, 2.5)
	want(t, s, "goqueue_group_partition_in_flight_messages"+gp, 3)
	want(t, s, `goqueue_group_lag_messages{group="billing",topic="orders"}`, 20)
}

// TestGroupSeriesBounded: a group costs a fixed number of series plus five
// per topic, however many partitions and rebalances it has (the fault:
// about 70 per group, histogram buckets and partitions included, so
// 10,000 groups made 690,000 series).
func TestGroupSeriesBounded(t *testing.T) {
	count := func(groups int) int {
		src := &fakeSource{}
		for i := range groups {
			g := billing()[0]
			g.Group = fmt.Sprintf("g%d", i)
			for p := range int32(64) {
				g.Partitions = append(g.Partitions, broker.GroupPartitionStats{Topic: "big", Partition: p})
			}
			src.groups = append(src.groups, g)
		}
		n := 0
		for series := range scrape(t, New(src, "dev", Options{})) {
			if strings.HasPrefix(series, "goqueue_group_") {
				n++
			}
		}
		return n
	}
	one, hundred := count(1), count(100)
	perGroup := (hundred - one) / 99
	// members, generation, state, in progress, 2 reasons, seconds + 5 × 2 topics.
	if perGroup > 17 {
		t.Fatalf("%d series per group", perGroup)
	}
}
