package metrics

import (
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

func TestGroupMetrics(t *testing.T) {
	src := &fakeSource{groups: []broker.GroupStats{{
		Group: "billing", State: api.GroupStateReconciling, Generation: 3, Members: 2,
		Rebalances: api.RebalanceStats{
			Count: 3, ByReason: map[string]int64{"member_joined": 2, "member_left": 1},
			TotalDurationMS: 1500, InProgress: true,
			Recent: []api.Rebalance{
				{Generation: 3, Reason: "member_left", StartedAt: 100},                               // open
				{Generation: 2, Reason: "member_joined", StartedAt: 50, EndedAt: 60, DurationMS: 10}, // closed
				{Generation: 1, Reason: "member_joined", StartedAt: 1, EndedAt: 3, DurationMS: 2000},
			},
		},
		Partitions: []broker.GroupPartitionStats{{
			Topic: "orders", Partition: 4, Committed: 10, HighWatermark: 25, Lag: 15,
			TimeLag: 2500 * time.Millisecond, InFlight: 3, Redelivered: 7, DeadLettered: 1,
		}},
	}}}
	m := New(src, "dev")
	s := scrape(t, m)
	gp := `{group="billing",partition="4",topic="orders"}`
	want(t, s, `goqueue_group_members{group="billing"}`, 2)
	want(t, s, `goqueue_group_generation{group="billing"}`, 3)
	want(t, s, `goqueue_group_state{group="billing",state="reconciling"}`, 1)
	want(t, s, `goqueue_group_state{group="billing",state="stable"}`, 0)
	want(t, s, `goqueue_group_rebalance_in_progress{group="billing"}`, 1)
	want(t, s, `goqueue_group_rebalances_total{group="billing",reason="member_joined"}`, 2)
	want(t, s, `goqueue_group_rebalances_total{group="billing",reason="member_left"}`, 1)
	want(t, s, `goqueue_group_rebalance_seconds_total{group="billing"}`, 1.5)
	want(t, s, "goqueue_group_committed_offset"+gp, 10)
	want(t, s, "goqueue_group_high_watermark"+gp, 25)
	want(t, s, "goqueue_group_lag_messages"+gp, 15)
	want(t, s, "goqueue_group_lag_seconds"+gp, 2.5)
	want(t, s, "goqueue_group_in_flight_messages"+gp, 3)
	want(t, s, "goqueue_group_redelivered_messages_total"+gp, 7)
	want(t, s, "goqueue_group_dead_lettered_messages_total"+gp, 1)
	want(t, s, `goqueue_group_rebalance_duration_seconds_count{group="billing"}`, 2)
	want(t, s, `goqueue_group_rebalance_duration_seconds_sum{group="billing"}`, 2.01)
	want(t, s, `goqueue_group_rebalance_duration_seconds_bucket{group="billing",le="0.01"}`, 1)

	// A second scrape observes only what closed since.
	want(t, scrape(t, m), `goqueue_group_rebalance_duration_seconds_count{group="billing"}`, 2)
	g := &src.groups[0]
	g.Rebalances.Recent[0].EndedAt, g.Rebalances.Recent[0].DurationMS = 400, 300
	g.Rebalances.InProgress = false
	s = scrape(t, m)
	want(t, s, `goqueue_group_rebalance_duration_seconds_count{group="billing"}`, 3)
	want(t, s, `goqueue_group_rebalance_in_progress{group="billing"}`, 0)

	// A deleted group's series go away.
	src.groups = nil
	for series := range scrape(t, m) {
		if len(series) > 14 && series[:14] == "goqueue_group_" {
			t.Errorf("series of a deleted group: %s", series)
		}
	}
}
