package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// Partition increases and topic deletions reach every subscribed group.
func TestTopicChangesReachGroups(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	createTopic(t, s, "audit", 1)
	a := join(t, s, "g", api.JoinRequest{MemberID: "a", Topics: []string{"orders", "audit"}})
	if len(a.owned["orders"]) != 2 || len(a.owned["audit"]) != 1 {
		t.Fatalf("a owns %v", a.owned)
	}
	if status, raw := s.Do("POST", "/topics/orders/partitions", api.AddPartitionsRequest{Count: 4}); status != http.StatusOK {
		t.Fatalf("add partitions: %d %s", status, raw)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { a.heartbeat(); return len(a.owned["orders"]) == 4 }, "the new partitions")
	publish(t, s, "orders", `{"value":"new","partition":3}`)
	if got := a.poll(10, 0); len(got) != 1 || got[0].Partition != 3 {
		t.Fatalf("poll of a new partition: %v", refs(got))
	}
	a.ack(api.Message{Topic: "orders", Partition: 3, Offset: 0})

	if status, raw := s.Do("DELETE", "/topics/orders", nil); status != http.StatusNoContent {
		t.Fatalf("delete topic: %d %s", status, raw)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { a.heartbeat(); return len(a.owned["orders"]) == 0 }, "the deletion")
	if got := getOffsets(t, s, "g"); got["orders"] != nil {
		t.Fatalf("offsets of the deleted topic kept: %v", got)
	}
	d := describeGroup(t, s, "g")
	if d.Rebalances.ByReason["partitions_changed"] == 0 || d.Rebalances.ByReason["topic_deleted"] == 0 {
		t.Fatalf("rebalances %+v", d.Rebalances.ByReason)
	}
	for _, p := range d.Partitions {
		if p.Topic == "orders" {
			t.Fatalf("describe still shows %+v", p)
		}
	}
}

// GET /groups/{group} reports offset lag and time lag per partition and in
// total, and in-flight counts per member and partition.
func TestDescribeReportsLag(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	old := time.Now().Add(-time.Minute).UnixMilli()
	publish(t, s, "orders", map[string]any{"messages": []map[string]any{
		{"value": "a", "partition": 0, "timestamp": old},
		{"value": "b", "partition": 0, "timestamp": old + 1000},
		{"value": "c", "partition": 1},
	}})
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	d := describeGroup(t, s, "g")
	p0 := d.Partitions[0]
	if d.Lag != 3 || p0.Lag != 2 || p0.CommittedOffset != -1 || p0.HighWatermark != 2 || p0.TimeLagMS < 59000 || p0.Owner != m.id {
		t.Fatalf("before polling: lag %d, %+v", d.Lag, p0)
	}
	msgs := m.poll(10, 0)
	d = describeGroup(t, s, "g")
	if d.Members[0].InFlight != 3 || d.Partitions[0].InFlight != 2 || d.Partitions[0].CommittedOffset != 0 {
		t.Fatalf("in flight: %+v %+v", d.Members[0], d.Partitions[0])
	}
	m.ack(msgs[0])
	d = describeGroup(t, s, "g")
	if p0 := d.Partitions[0]; p0.Lag != 1 || p0.TimeLagMS < 58000 || p0.TimeLagMS > 59900 {
		t.Fatalf("after one ack: %+v", p0)
	}
	m.ack(msgs[1:]...)
	d = describeGroup(t, s, "g")
	if d.Lag != 0 || d.Partitions[0].TimeLagMS != 0 || d.Partitions[1].TimeLagMS != 0 {
		t.Fatalf("caught up: lag %d %+v", d.Lag, d.Partitions)
	}
}
