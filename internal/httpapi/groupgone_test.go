package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// A group whose last member left, with no offsets and no settings of its
// own, goes with it: it stayed listed by GET /groups and counted against
// --max-groups until a DELETE or a restart (which forgot it). One that
// committed stays, as a restart keeps it.
func TestGroupGoesWithItsLastMember(t *testing.T) {
	s := brokertest.Start(t, brokertest.WithConfig(func(c *broker.Config) { c.Limits.MaxGroups = 2 }))
	createTopic(t, s, "orders", 1)
	publishSpread(t, s, "orders", 1)
	kept := join(t, s, "kept", api.JoinRequest{Topics: []string{"orders"}})
	if status, raw := s.Do("POST", "/groups/kept/offsets", api.CommitOffsetsRequest{MemberID: kept.id, Generation: kept.gen, Offsets: api.Offsets{"orders": {0: 1}}}); status != http.StatusOK {
		t.Fatalf("commit: %d %s", status, raw)
	}
	for try := range 3 { // each would have taken a group of --max-groups for good
		m := join(t, s, "passing", api.JoinRequest{Topics: []string{"orders"}})
		if m.gen != 1 {
			t.Fatalf("try %d: joined at generation %d, want 1 (a new group)", try, m.gen)
		}
		if status, raw := s.Do("POST", "/groups/passing/leave", api.LeaveRequest{MemberID: m.id}); status != http.StatusNoContent {
			t.Fatalf("try %d: leave: %d %s", try, status, raw)
		}
		status, raw := s.Do("GET", "/groups/passing", nil)
		wantError(t, status, raw, api.ErrGroupNotFound)
	}
	if status, raw := s.Do("POST", "/groups/kept/leave", api.LeaveRequest{MemberID: kept.id}); status != http.StatusNoContent {
		t.Fatalf("leave: %d %s", status, raw)
	}
	var list api.GroupList
	if status, raw := s.Do("GET", "/groups", nil); status != http.StatusOK {
		t.Fatalf("list: %d %s", status, raw)
	} else if mustUnmarshal(t, raw, &list); len(list.Groups) != 1 || list.Groups[0].GroupID != "kept" {
		t.Fatalf("listed %+v, want only the group that committed", list.Groups)
	}
}
