package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// TestLimitsOnTopicsGroupsAndMembers: past its limits the broker refuses a
// new topic, group or member with a coded 409 naming the limit, while
// what exists keeps working (a member joining again is not a new one).
func TestLimitsOnTopicsGroupsAndMembers(t *testing.T) {
	s := brokertest.Start(t, brokertest.WithConfig(func(c *broker.Config) {
		c.Limits = broker.Limits{MaxTopics: 2, MaxGroups: 2, MaxGroupMembers: 2}
	}))
	createTopic(t, s, "a", 1)
	createTopic(t, s, "b", 1)
	status, raw := s.Do("POST", "/topics", api.CreateTopicRequest{Name: "c", Partitions: 1})
	if e := wantError(t, status, raw, api.ErrTooManyTopics); e.Details["max_topics"] != float64(2) {
		t.Fatalf("details %v", e.Details)
	}

	join := func(group, member string) (int, []byte) {
		return s.Do("POST", "/groups/"+group+"/join", api.JoinRequest{MemberID: member, Topics: []string{"a"}})
	}
	var first api.JoinResponse
	if status, raw = join("g1", ""); status != 200 {
		t.Fatalf("first member: %d %s", status, raw)
	}
	mustUnmarshal(t, raw, &first)
	if status, raw := join("g1", ""); status != 200 {
		t.Fatalf("second member: %d %s", status, raw)
	}
	status, raw = join("g1", "")
	wantError(t, status, raw, api.ErrTooManyMembers)
	if status, raw := join("g1", first.MemberID); status != 200 {
		t.Fatalf("a member joining again: %d %s", status, raw)
	}
	if status, raw := join("g2", ""); status != 200 {
		t.Fatalf("second group: %d %s", status, raw)
	}
	status, raw = join("g3", "")
	wantError(t, status, raw, api.ErrTooManyGroups)
	status, raw = s.Do("POST", "/groups/g4/offsets/reset", api.ResetOffsetsRequest{To: "earliest", Topics: []string{"a"}})
	wantError(t, status, raw, api.ErrTooManyGroups)
	if n := len(mustGroups(t, s).Groups); n != 2 {
		t.Fatalf("%d groups", n)
	}
}

func mustGroups(t *testing.T, s *brokertest.Server) api.GroupList {
	t.Helper()
	var l api.GroupList
	if st := s.DoJSON("GET", "/groups", nil, &l); st != 200 {
		t.Fatal(fmt.Sprint("list groups: ", st))
	}
	return l
}

// TestGroupBodiesCapped: an ack naming more messages than
// --max-batch-messages is refused before it is decoded (a 16 MiB body of
// empty refs once took ~800 MB).
func TestGroupBodiesCapped(t *testing.T) {
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.MaxBatchMessages = 10 }))
	body := `{"member_id":"m","generation":1,"messages":[` + strings.Repeat(`{},`, 10) + `{}]}`
	status, raw := post(t, s, "/groups/g/ack", []byte(body))
	wantError(t, status, raw, api.ErrTooManyMessages)
}
