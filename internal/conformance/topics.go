package conformance

import (
	"slices"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// Topics under groups: partition changes and deletions reach the groups
// subscribed, and a group's description follows its progress.
func topicScenarios() []scenario {
	return []scenario{
		{"TopicChangesReachGroups", 0, topicChangesReachGroups},
		{"DescribeReportsLag", Deliveries, describeReportsLag},
	}
}

// heartbeatUntil heartbeats m, 100 ms apart on the bubble's clock, until
// cond holds of what it owns; it fails after 20 tries.
func heartbeatUntil(m *member, what string, cond func(broker.Assignment) bool) {
	m.t.Helper()
	for range 20 {
		if m.heartbeat(); cond(m.owned) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.t.Fatalf("%s never reached %s: owns %v", m.id, what, m.owned)
}

// New partitions of a subscribed topic are assigned, and polled from their
// start; a deleted topic is revoked and its offsets are forgotten.
func topicChangesReachGroups(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 2)
	createTopic(t, tg, "audit", 1)
	a := join(t, tg, "g", broker.JoinParams{MemberID: "a", Topics: []string{"orders", "audit"}})
	if len(a.owned["orders"]) != 2 || len(a.owned["audit"]) != 1 {
		t.Fatalf("a owns %v", a.owned)
	}
	if err := tg.AddPartitions("orders", 4); err != nil {
		t.Fatalf("add partitions: %v", err)
	}
	heartbeatUntil(a, "the new partitions", func(o broker.Assignment) bool { return slices.Equal(o["orders"], []int32{0, 1, 2, 3}) })
	publish(t, tg, "orders", Record{Value: []byte("new"), Partition: 3})
	got := a.consume(10)
	if len(got) != 1 || got[0].Partition != 3 || got[0].Offset != 0 {
		t.Fatalf("consume of a new partition: %v", refs(got))
	}
	a.done(got...)

	if err := tg.DeleteTopic("orders"); err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	heartbeatUntil(a, "the deletion", func(o broker.Assignment) bool { return len(o["orders"]) == 0 && len(o["audit"]) == 1 })
	if got := offsets(t, tg, "g"); got["orders"] != nil {
		t.Fatalf("offsets of the deleted topic kept: %v", got)
	}
	d := describe(t, tg, "g")
	if !lacks(tg, RebalanceStats) && (d.Rebalances.ByReason["partitions_changed"] == 0 || d.Rebalances.ByReason["topic_deleted"] == 0) {
		t.Fatalf("rebalances %+v, want partitions_changed and topic_deleted", d.Rebalances.ByReason)
	}
	for _, p := range d.Partitions {
		if p.Topic == "orders" {
			t.Fatalf("describe still shows %+v", p)
		}
	}
}

// A group's description reports offset lag and time lag (the age of the
// oldest message not consumed) per partition and in total, and in-flight
// counts per member and partition.
func describeReportsLag(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 2)
	old := time.Now().Add(-time.Minute)
	publish(t, tg, "orders", Record{Value: []byte("a"), Partition: 0, Timestamp: old},
		Record{Value: []byte("b"), Partition: 0, Timestamp: old.Add(time.Second)}, Record{Value: []byte("c"), Partition: 1})
	m := join(t, tg, "g", broker.JoinParams{Topics: []string{"orders"}})
	d := describe(t, tg, "g")
	p0 := partitionStatus(t, d, "orders", 0)
	if d.Lag != 3 || p0.Lag != 2 || p0.Committed != -1 || p0.HighWatermark != 2 || p0.TimeLag != time.Minute || p0.Owner != m.id {
		t.Fatalf("before polling: lag %d, %+v; want lag 3, partition 0 with lag 2, nothing committed, time lag 1m", d.Lag, p0)
	}
	msgs := m.poll(10, 0)
	d = describe(t, tg, "g")
	if p0 := partitionStatus(t, d, "orders", 0); len(d.Members) != 1 || d.Members[0].InFlight != 3 || p0.InFlight != 2 || p0.Committed != 0 {
		t.Fatalf("in flight: %+v %+v", d.Members, p0)
	}
	time.Sleep(10 * time.Second)
	m.ack(msgs[0])
	d = describe(t, tg, "g")
	if p0 := partitionStatus(t, d, "orders", 0); p0.Lag != 1 || p0.TimeLag != time.Minute-time.Second+10*time.Second {
		t.Fatalf("after one ack: %+v, want lag 1, time lag 69s", p0)
	}
	m.ack(msgs[1:]...)
	d = describe(t, tg, "g")
	if d.Lag != 0 || partitionStatus(t, d, "orders", 0).TimeLag != 0 || partitionStatus(t, d, "orders", 1).TimeLag != 0 {
		t.Fatalf("caught up: lag %d %+v", d.Lag, d.Partitions)
	}
}
