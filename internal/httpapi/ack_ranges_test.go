package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// A poll acknowledged as ranges of its offsets settles it like the same
// messages listed one by one; a bad range is a 400 naming the field.
func TestAckRangesOverHTTP(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	var msgs []map[string]any
	for i := range 20 {
		msgs = append(msgs, map[string]any{"value": "m", "partition": i % 2})
	}
	publish(t, s, "orders", map[string]any{"messages": msgs})
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	got := m.poll(100, 0)
	if len(got) != 20 {
		t.Fatalf("polled %d, want 20", len(got))
	}
	status, raw := s.Do("POST", "/groups/g/ack", map[string]any{"member_id": m.id, "generation": m.gen,
		"ranges": []map[string]any{{"topic": "orders", "partition": 0, "from": 0, "to": 10}, {"topic": "orders", "partition": 1, "from": 0, "to": 4}}})
	if status != http.StatusOK {
		t.Fatalf("ack ranges: %d %s", status, raw)
	}
	var resp api.AckResponse
	mustUnmarshal(t, raw, &resp)
	if resp.Succeeded != 14 {
		t.Fatalf("succeeded %d, want 14", resp.Succeeded)
	}
	var o api.OffsetsResponse
	if st := s.DoJSON("GET", "/groups/g/offsets", nil, &o); st != http.StatusOK {
		t.Fatalf("offsets: %d", st)
	}
	if o.Offsets["orders"][0] != 10 || o.Offsets["orders"][1] != 4 {
		t.Fatalf("committed %v, want orders/0 10, orders/1 4", o.Offsets)
	}
	status, raw = s.Do("POST", "/groups/g/ack", map[string]any{"member_id": m.id, "generation": m.gen,
		"ranges": []map[string]any{{"topic": "orders", "partition": 1, "from": 7, "to": 5}}})
	if e := wantError(t, status, raw, api.ErrInvalidArgument); e.Details["field"] != "ranges" {
		t.Fatalf("details %v, want field ranges", e.Details)
	}
}
