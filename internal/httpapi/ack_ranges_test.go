package httpapi_test

import (
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// A bad range is a 400 naming the field. (That ranges settle like the
// messages they name is the conformance suite's, run over HTTP in
// conformance_test.go.)
func TestAckBadRangeNamesField(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	status, raw := s.Do("POST", "/groups/g/ack", map[string]any{"member_id": m.id, "generation": m.gen,
		"ranges": []map[string]any{{"topic": "orders", "partition": 1, "from": 7, "to": 5}}})
	if e := wantError(t, status, raw, api.ErrInvalidArgument); e.Details["field"] != "ranges" {
		t.Fatalf("details %v, want field ranges", e.Details)
	}
}
