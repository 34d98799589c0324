package crashtest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

// fakeGroup answers the group endpoints the consumer uses with canned
// bodies, so that the consumer's own checks can be shown to fire.
func fakeGroup(t *testing.T, answers map[string]any) *client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.Method+" "+r.URL.Path]
		if !ok {
			http.Error(w, `{"error":{"code":"GROUP_NOT_FOUND"}}`, http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(a)
	}))
	t.Cleanup(srv.Close)
	cl := newClient(srv.URL)
	t.Cleanup(cl.close)
	return cl
}

// A restarted broker may not report a group offset below one it confirmed:
// a commit, raised over the acks confirmed after it.
func TestConsumerFindsLowerOffsets(t *testing.T) {
	c := newConsumer("g", "orders", 2, 1)
	c.committed[0] = 5
	for _, off := range []int64{5, 6, 8} {
		c.acked[0][off] = true
	}
	if got := c.floor(0); got != 7 {
		t.Fatalf("floor = %d, want 7 (commit 5, acks 5 and 6; 7 is not acked)", got)
	}
	offsets := func(o map[int32]int64) map[string]any {
		return map[string]any{"GET /groups/g/offsets": api.OffsetsResponse{GroupID: "g", Offsets: api.Offsets{"orders": o}}}
	}
	tests := []struct {
		name    string
		answers map[string]any
		want    string // "" for no problem
	}{
		{"at the floor", offsets(map[int32]int64{0: 7, 1: 0}), ""},
		{"above the floor", offsets(map[int32]int64{0: 9}), ""},
		{"below the floor", offsets(map[int32]int64{0: 6}), "partition 0 is 6"},
		{"forgotten", offsets(map[int32]int64{1: 3}), "partition 0 is 0 (present false)"},
		{"group forgotten", nil, "partition 0 is 0 (present false)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.checkOffsets(context.Background(), fakeGroup(t, tt.answers))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected problem: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v does not report %q", err, tt.want)
			}
		})
	}
}

// A message the broker confirmed settled must never be handed out again.
func TestConsumerFindsRedeliveryOfSettled(t *testing.T) {
	for _, tt := range []struct {
		name   string
		settle func(*consumer)
	}{
		{"committed", func(c *consumer) { c.committed[1] = 4 }},
		{"acked", func(c *consumer) { c.acked[1][3] = true }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newConsumer("g", "orders", 2, 1)
			tt.settle(c)
			cl := fakeGroup(t, map[string]any{
				"POST /groups/g/join": api.JoinResponse{MemberID: "m", Generation: 1, AssignedPartitions: api.Assignment{"orders": {0, 1}}},
				"POST /groups/g/poll": api.PollResponse{Messages: []api.Message{{Topic: "orders", Partition: 1, Offset: 3, DeliveryCount: 1}}},
			})
			err := c.consume(context.Background(), cl, true)
			if err == nil || !strings.Contains(err.Error(), "partition 1 offset 3 delivered again") {
				t.Fatalf("consume = %v, want a redelivery of a settled message reported", err)
			}
		})
	}
}
