package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

func getOffsets(t *testing.T, s *brokertest.Server, group string) api.Offsets {
	t.Helper()
	var resp api.OffsetsResponse
	mustUnmarshal(t, mustGet(t, s, "/groups/"+group+"/offsets"), &resp)
	return resp.Offsets
}

// Offsets: commit, fetch, survive a restart, reset (empty groups only),
// delete (empty groups only, forgetting the offsets).
func TestOffsetsCommitResetDeleteAndRestart(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	publishN(t, s, "orders", 0, 10)
	publishN(t, s, "orders", 1, 10)
	a := join(t, s, "g", api.JoinRequest{MemberID: "a", Topics: []string{"orders"}})

	commit := api.CommitOffsetsRequest{MemberID: "a", Generation: a.gen, Offsets: api.Offsets{"orders": {0: 4, 1: 7}}}
	if status, raw := s.Do("POST", "/groups/g/offsets", commit); status != http.StatusOK {
		t.Fatalf("commit: %d %s", status, raw)
	}
	if got := getOffsets(t, s, "g"); got["orders"][0] != 4 || got["orders"][1] != 7 {
		t.Fatalf("offsets = %v", got)
	}
	// Polling starts at the committed offsets.
	msgs := a.poll(100, 0)
	if len(msgs) != 6+3 || msgs[0].Offset < 4 {
		t.Fatalf("poll after commit: %v", refs(msgs))
	}
	// Past the high watermark is refused.
	commit.Offsets = api.Offsets{"orders": {0: 11}}
	status, raw := s.Do("POST", "/groups/g/offsets", commit)
	wantError(t, status, raw, api.ErrOffsetOutOfRange)

	// Reset and delete need an empty group.
	status, raw = s.Do("POST", "/groups/g/offsets/reset", api.ResetOffsetsRequest{To: "earliest"})
	wantError(t, status, raw, api.ErrGroupNotEmpty)
	status, raw = s.Do("DELETE", "/groups/g", nil)
	wantError(t, status, raw, api.ErrGroupNotEmpty)

	s.Restart()
	if got := getOffsets(t, s, "g"); got["orders"][0] != 4 || got["orders"][1] != 7 {
		t.Fatalf("offsets after restart = %v", got)
	}
	if d := describeGroup(t, s, "g"); d.State != api.GroupStateEmpty || d.Lag != 6+3 {
		t.Fatalf("after restart: state %s lag %d", d.State, d.Lag)
	}

	for _, tt := range []struct {
		req    api.ResetOffsetsRequest
		p0, p1 int64
	}{
		{api.ResetOffsetsRequest{To: "earliest"}, 0, 0},
		{api.ResetOffsetsRequest{To: "latest"}, 10, 10},
		{api.ResetOffsetsRequest{To: "timestamp", Timestamp: 1}, 0, 0},
		{api.ResetOffsetsRequest{To: "offsets", Offsets: api.Offsets{"orders": {0: 3, 1: 5}}}, 3, 5},
	} {
		var resp api.OffsetsResponse
		if status := s.DoJSON("POST", "/groups/g/offsets/reset", tt.req, &resp); status != http.StatusOK {
			t.Fatalf("reset %+v: %d", tt.req, status)
		}
		if resp.Offsets["orders"][0] != tt.p0 || resp.Offsets["orders"][1] != tt.p1 {
			t.Fatalf("reset %+v: %v", tt.req, resp.Offsets)
		}
	}
	status, raw = s.Do("POST", "/groups/g/offsets/reset", api.ResetOffsetsRequest{To: "offsets", Offsets: api.Offsets{"orders": {0: 99}}})
	wantError(t, status, raw, api.ErrOffsetOutOfRange)
	status, raw = s.Do("POST", "/groups/g/offsets/reset", api.ResetOffsetsRequest{To: "sideways"})
	wantError(t, status, raw, api.ErrInvalidArgument)

	// A member joining after the reset starts there.
	b := join(t, s, "g", api.JoinRequest{MemberID: "b", Topics: []string{"orders"}})
	if msgs := b.poll(100, 0); len(msgs) != 7+5 {
		t.Fatalf("poll after reset: %v", refs(msgs))
	}
	b.leave()

	if status, raw := s.Do("DELETE", "/groups/g", nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, raw)
	}
	status, raw = s.Do("GET", "/groups/g", nil)
	wantError(t, status, raw, api.ErrGroupNotFound)
	s.Restart()
	status, raw = s.Do("GET", "/groups/g/offsets", nil)
	wantError(t, status, raw, api.ErrGroupNotFound)
	// A new group of the same name starts from scratch (earliest).
	c := join(t, s, "g", api.JoinRequest{MemberID: "c", Topics: []string{"orders"}})
	if msgs := c.poll(100, 0); len(msgs) != 20 {
		t.Fatalf("poll of a recreated group: %d messages", len(msgs))
	}
}

// offset_reset: earliest (default) delivers what is there, latest only
// what arrives next, none refuses to guess.
func TestOffsetResetPolicies(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	publishN(t, s, "orders", 0, 5)

	early := join(t, s, "early", api.JoinRequest{Topics: []string{"orders"}})
	if got := early.poll(100, 0); len(got) != 5 {
		t.Fatalf("earliest: %d messages", len(got))
	}
	late := join(t, s, "late", api.JoinRequest{Topics: []string{"orders"}, OffsetReset: api.OffsetResetLatest})
	if got := late.poll(100, 0); len(got) != 0 {
		t.Fatalf("latest: %v", refs(got))
	}
	if got := getOffsets(t, s, "late"); got["orders"][0] != 5 {
		t.Fatalf("latest committed %v, want the high watermark 5", got)
	}
	publishN(t, s, "orders", 0, 1)
	if got := late.poll(100, 0); len(got) != 1 || got[0].Offset != 5 {
		t.Fatalf("latest after publish: %v", refs(got))
	}

	none := join(t, s, "none", api.JoinRequest{Topics: []string{"orders"}, OffsetReset: api.OffsetResetNone})
	status, raw := s.Do("POST", "/groups/none/poll", api.PollRequest{MemberID: none.id, Generation: none.gen})
	e := wantError(t, status, raw, api.ErrNoOffset)
	if e.Details["topic"] != "orders" || e.Details["partition"] != 0.0 {
		t.Fatalf("details %v", e.Details)
	}
	if status, raw := s.Do("POST", "/groups/none/offsets", api.CommitOffsetsRequest{MemberID: none.id, Generation: none.gen, Offsets: api.Offsets{"orders": {0: 2}}}); status != http.StatusOK {
		t.Fatalf("commit: %d %s", status, raw)
	}
	if got := none.poll(100, 0); len(got) != 4 || got[0].Offset != 2 {
		t.Fatalf("none after commit: %v", refs(got))
	}
}

// Two groups on one topic are independent: messages in flight in one are
// all visible to the other, and acks of one do not move the other.
func TestGroupsAreIndependent(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "events", 3)
	publishSpread(t, s, "events", 30)
	analytics := join(t, s, "analytics", api.JoinRequest{Topics: []string{"events"}})
	billing := join(t, s, "billing", api.JoinRequest{Topics: []string{"events"}})
	a := analytics.poll(100, 0)
	if len(a) != 30 {
		t.Fatalf("analytics got %d", len(a))
	}
	b := billing.poll(100, 0)
	if len(b) != 30 || !equalStrings(refs(a), refs(b)) {
		t.Fatalf("billing got %d while analytics holds all in flight", len(b))
	}
	billing.ack(b...)
	if d := describeGroup(t, s, "analytics"); d.Lag != 30 {
		t.Fatalf("analytics lag %d after billing acked", d.Lag)
	}
	if d := describeGroup(t, s, "billing"); d.Lag != 0 {
		t.Fatalf("billing lag %d", d.Lag)
	}
	if got := getOffsets(t, s, "analytics"); got["events"][0] != 0 {
		t.Fatalf("analytics offsets moved: %v", got)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
