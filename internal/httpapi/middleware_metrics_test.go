package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// TestGroupLagAndRebalanceMetrics scrapes /metrics of a real broker while a
// group consumes: lag rises with publishes and falls with acks, in messages
// and in seconds, and rebalance counters move as members join and leave.
// It reads the per-partition series (--metrics-group-partitions) and checks
// the per-topic ones agree with them.
func TestGroupLagAndRebalanceMetrics(t *testing.T) {
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.MetricsGroupPartitions = true }))
	createTopic(t, s, "orders", 1)
	const (
		gp      = `{group="billing",partition="0",topic="orders"}`
		joined  = `goqueue_group_rebalances_total{group="billing",reason="member_joined"}`
		left    = `goqueue_group_rebalances_total{group="billing",reason="member_left"}`
		members = `goqueue_group_members{group="billing"}`
	)
	var a api.JoinResponse
	if st := s.DoJSON("POST", "/groups/billing/join", api.JoinRequest{MemberID: "a", Topics: []string{"orders"}}, &a); st != http.StatusOK {
		t.Fatalf("join a: %d", st)
	}
	m := scrapeHTTP(t, s)
	if m[joined] != 1 || m[members] != 1 || m["goqueue_group_partition_lag_messages"+gp] != 0 || m["goqueue_group_partition_lag_seconds"+gp] != 0 {
		t.Fatalf("after the first join: joined %v members %v lag %v / %v s",
			m[joined], m[members], m["goqueue_group_partition_lag_messages"+gp], m["goqueue_group_partition_lag_seconds"+gp])
	}

	// Five messages stamped a minute ago: five behind, a minute behind.
	old := time.Now().Add(-time.Minute).UnixMilli()
	batch := api.PublishRequest{}
	for range 5 {
		batch.Messages = append(batch.Messages, api.PublishMessage{Value: []byte(`"x"`), Timestamp: old})
	}
	if st := s.DoJSON("POST", "/topics/orders/messages", batch, nil); st != http.StatusOK {
		t.Fatalf("publish: %d", st)
	}
	m = scrapeHTTP(t, s)
	if got := m["goqueue_group_partition_lag_messages"+gp]; got != 5 {
		t.Errorf("lag after 5 publishes = %v, want 5", got)
	}
	if got := m["goqueue_group_partition_lag_seconds"+gp]; got < 59 || got > 120 {
		t.Errorf("time lag of minute-old messages = %v s", got)
	}
	if got := m[`goqueue_group_lag_messages{group="billing",topic="orders"}`]; got != 5 {
		t.Errorf("per-topic lag after 5 publishes = %v, want 5", got)
	}
	if got := m["goqueue_group_partition_high_watermark"+gp]; got != 5 {
		t.Errorf("high watermark = %v, want 5", got)
	}

	// Poll all five, ack them: caught up.
	var polled api.PollResponse
	if st := s.DoJSON("POST", "/groups/billing/poll", api.PollRequest{MemberID: a.MemberID, Generation: a.Generation, MaxMessages: 10}, &polled); st != http.StatusOK || len(polled.Messages) != 5 {
		t.Fatalf("poll: %d, %d messages", st, len(polled.Messages))
	}
	if got := scrapeHTTP(t, s)["goqueue_group_partition_in_flight_messages"+gp]; got != 5 {
		t.Errorf("in flight after the poll = %v, want 5", got)
	}
	ack := api.AckRequest{MemberID: a.MemberID, Generation: a.Generation}
	for _, msg := range polled.Messages {
		ack.Messages = append(ack.Messages, api.MessageRef{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset})
	}
	if st := s.DoJSON("POST", "/groups/billing/ack", ack, nil); st != http.StatusOK {
		t.Fatalf("ack: %d", st)
	}
	m = scrapeHTTP(t, s)
	for series, want := range map[string]float64{
		"goqueue_group_partition_lag_messages" + gp:       0,
		"goqueue_group_partition_lag_seconds" + gp:        0,
		"goqueue_group_partition_committed_offset" + gp:   5,
		"goqueue_group_partition_in_flight_messages" + gp: 0,
	} {
		if m[series] != want {
			t.Errorf("after acking everything: %s = %v, want %v", series, m[series], want)
		}
	}

	// A second member joins, then leaves.
	if st := s.DoJSON("POST", "/groups/billing/join", api.JoinRequest{MemberID: "b", Topics: []string{"orders"}}, nil); st != http.StatusOK {
		t.Fatalf("join b: %d", st)
	}
	m = scrapeHTTP(t, s)
	if m[joined] != 2 || m[members] != 2 {
		t.Errorf("after b joined: joined %v, members %v; want 2, 2", m[joined], m[members])
	}
	if st := s.DoJSON("POST", "/groups/billing/leave", api.LeaveRequest{MemberID: "b"}, nil); st/100 != 2 {
		t.Fatalf("leave b: %d", st)
	}
	m = scrapeHTTP(t, s)
	if m[left] != 1 || m[members] != 1 {
		t.Errorf("after b left: left %v, members %v; want 1, 1", m[left], m[members])
	}
	if m[`goqueue_group_generation{group="billing"}`] < 3 {
		t.Errorf("generation = %v after join, join, leave", m[`goqueue_group_generation{group="billing"}`])
	}
}
