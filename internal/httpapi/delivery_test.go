package httpapi_test

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// The behaviour of delivery (retries, the DLQ, visibility timeouts,
// handoffs) is the conformance suite's, run over HTTP in
// conformance_test.go. These tests keep what only the wire says.

// A partial failure of an ack answers the first failure's status and
// error, with the per-message result under details.result; the good
// messages are applied.
func TestAckPartialFailure(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	publishN(t, s, "orders", 0, 3)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	msgs := m.poll(10, 0)
	bogus := api.Message{Topic: "orders", Partition: 0, Offset: 7}
	status, resp := m.settle("ack", api.AckRequest{}, msgs[0], bogus, msgs[1])
	if status != http.StatusConflict || resp.Succeeded != 2 || len(resp.Failed) != 1 ||
		resp.Failed[0].Offset != 7 || resp.Failed[0].Error.Code != api.ErrNotInFlight.Code {
		t.Fatalf("partial ack: %d %+v", status, resp)
	}
}

// A dead letter reads back over JSON as its message was published: a JSON
// value as the same JSON, a text key as text, its headers beside the DLQ's.
func TestDeadLetterReadsBackAsPublished(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	publish(t, s, "orders", `{"key":"k1","value":{"id":7},"partition":1,"headers":{"trace":"abc"},"timestamp":1234}`)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	no := false
	if status, resp := m.settle("nack", api.AckRequest{Requeue: &no, Reason: "poison"}, m.poll(10, 0)...); status != http.StatusOK || resp.Succeeded != 1 {
		t.Fatalf("reject: %d %+v", status, resp)
	}
	dead := fetch(t, s, "orders.dlq", 1, "offset=0").Messages
	if len(dead) != 1 {
		t.Fatalf("DLQ holds %+v", dead)
	}
	d := dead[0]
	if d.Key == nil || *d.Key != "k1" || string(d.Value) != `{"id":7}` || d.Timestamp != 1234 ||
		d.Headers["trace"] != "abc" || d.Headers[api.DLQHeaderReason] != "rejected" || d.Headers[api.DLQHeaderLastError] != "poison" {
		t.Fatalf("dead letter %+v", d)
	}
}

// A reject dead-letters at once; the DLQ replays back to the topic over
// HTTP, layer by layer, as new messages without the DLQ's headers.
func TestNackRequeueFalseAndReplay(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 3)
	publishSpread(t, s, "orders", 6)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	msgs := m.poll(10, 0)
	no := false
	if status, resp := m.settle("nack", api.AckRequest{Requeue: &no, Reason: "poison"}, msgs...); status != http.StatusOK || resp.Succeeded != 6 {
		t.Fatalf("reject: %d %+v", status, resp)
	}
	if got := m.poll(10, 300*time.Millisecond); len(got) != 0 {
		t.Fatalf("rejected messages came back: %v", refs(got))
	}
	var rep api.DLQReplayResponse
	if status := s.DoJSON("POST", "/topics/orders/dlq/replay", api.DLQReplayRequest{Max: 4}, &rep); status != http.StatusOK {
		t.Fatalf("replay: %d", status)
	}
	// Offsets 0 and 1 of the 3 DLQ partitions: 4 would split a layer, so 3.
	if rep.Replayed != 3 || rep.NextOffset != 1 {
		t.Fatalf("replay = %+v", rep)
	}
	if status := s.DoJSON("POST", "/topics/orders/dlq/replay", api.DLQReplayRequest{Offset: rep.NextOffset}, &rep); status != http.StatusOK || rep.Replayed != 3 || rep.NextOffset != 2 {
		t.Fatalf("second replay: %d %+v", status, rep)
	}
	again := m.poll(10, 0)
	if len(again) != 6 {
		t.Fatalf("replayed %d messages, want 6", len(again))
	}
	for _, msg := range again {
		if msg.DeliveryCount != 1 || msg.Offset < 2 {
			t.Fatalf("replayed message %+v", msg)
		}
		// The DLQ's headers are gone; the replay's say for whom and how often.
		want := map[string]string{api.ReplayHeaderCount: "1", api.ReplayHeaderGroup: "g"}
		if !reflect.DeepEqual(msg.Headers, want) {
			t.Fatalf("replayed message headers %v, want %v", msg.Headers, want)
		}
	}
	status, raw := s.Do("POST", "/topics/nope/dlq/replay", `{}`)
	wantError(t, status, raw, api.ErrTopicNotFound)
}

// A field of /nack or /extend sent to another of the three is refused as
// an unknown field is, and nothing is settled: an /ack with
// "requeue":false acknowledged its message, an /extend with "delay_ms" or
// a /nack with "visibility_timeout_ms" dropped it unread.
func TestSettleRefusesAnotherRoutesField(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	publishSpread(t, s, "orders", 1)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	if got := m.poll(10, 0); len(got) != 1 {
		t.Fatalf("polled %v", refs(got))
	}
	for _, c := range []struct {
		route, field string
		value        any
	}{
		{"ack", "requeue", false},
		{"ack", "delay_ms", 100},
		{"ack", "reason", "bad"},
		{"ack", "release", true},
		{"ack", "visibility_timeout_ms", 60000},
		{"nack", "visibility_timeout_ms", 60000},
		{"extend", "requeue", true},
		{"extend", "delay_ms", 100},
		{"extend", "reason", "slow"},
	} {
		body := map[string]any{"member_id": m.id, "generation": m.gen, c.field: c.value,
			"messages": []map[string]any{{"topic": "orders", "partition": 0, "offset": 0}}}
		status, raw := s.Do("POST", "/groups/g/"+c.route, body)
		if e := wantError(t, status, raw, api.ErrBadRequest); e.Details["field"] != c.field {
			t.Errorf("/%s with %s: details %v, want field %s", c.route, c.field, e.Details, c.field)
		}
	}
	if p := describeGroup(t, s, "g").Partitions[0]; p.InFlight != 1 || p.DeadLettered != 0 || p.CommittedOffset > 0 {
		t.Fatalf("after refused settles: %+v, want offset 0 still in flight", p)
	}
}
