package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// The seed page's curl join answers the seed's JSON shape.
func TestJoinAnswersSeedShape(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	status, raw := s.Do("POST", "/groups/order-service/join",
		`{"member_id": "consumer-1", "topics": ["orders"], "session_timeout_ms": 30000}`)
	if status != http.StatusOK {
		t.Fatalf("join: %d %s", status, raw)
	}
	var got map[string]json.RawMessage
	mustUnmarshal(t, raw, &got)
	want := map[string]string{
		"member_id":           `"consumer-1"`,
		"generation":          `1`,
		"assigned_partitions": `{"orders":[0,1]}`,
		"session_timeout_ms":  `30000`,
		"assignor":            `"cooperative-sticky"`,
	}
	for k, v := range want {
		if string(got[k]) != v {
			t.Errorf("%s = %s, want %s (answer %s)", k, got[k], v, raw)
		}
	}

	// GET /groups/{group} and GET /groups have the seed's fields, with the
	// peer address the broker saw.
	var d map[string]any
	mustUnmarshal(t, mustGet(t, s, "/groups/order-service"), &d)
	if d["group_id"] != "order-service" || d["state"] != "stable" || d["generation"] != 1.0 {
		t.Fatalf("describe: %v", d)
	}
	m := d["members"].([]any)[0].(map[string]any)
	if m["member_id"] != "consumer-1" || m["client_host"] != "127.0.0.1" {
		t.Fatalf("member: %v", m)
	}
	if ap, _ := json.Marshal(m["assigned_partitions"]); string(ap) != `{"orders":[0,1]}` {
		t.Fatalf("assigned_partitions = %s", ap)
	}
	var list api.GroupList
	mustUnmarshal(t, mustGet(t, s, "/groups"), &list)
	if len(list.Groups) != 1 || list.Groups[0].GroupID != "order-service" {
		t.Fatalf("GET /groups = %+v", list)
	}
}

func mustGet(t *testing.T, s *brokertest.Server, path string) []byte {
	t.Helper()
	status, raw := s.Do("GET", path, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, raw)
	}
	return raw
}

// client_host is the peer address, whatever the join body says.
func TestJoinClientHostIsPeer(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	status, raw := s.Do("POST", "/groups/g/join", `{"topics":["orders"],"client_host":"10.9.9.9"}`)
	wantError(t, status, raw, api.ErrBadRequest) // not a field a caller may set
	join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	if h := describeGroup(t, s, "g").Members[0].ClientHost; h != "127.0.0.1" {
		t.Fatalf("client_host = %q", h)
	}
}

func TestJoinRejects(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	for _, tt := range []struct {
		name string
		body string
		want *api.Error
	}{
		{"unknown topic", `{"topics":["nope"]}`, api.ErrTopicNotFound},
		{"no topics", `{"topics":[]}`, api.ErrInvalidArgument},
		{"bad assignor", `{"topics":["orders"],"assignor":"magic"}`, api.ErrInvalidAssignor},
		{"session too short", `{"topics":["orders"],"session_timeout_ms":10}`, api.ErrInvalidTimeout},
		{"bad offset reset", `{"topics":["orders"],"offset_reset":"middle"}`, api.ErrInvalidArgument},
		{"negative in-flight", `{"topics":["orders"],"max_in_flight":-1}`, api.ErrInvalidArgument},
		{"unknown field", `{"topics":["orders"],"topic":"x"}`, api.ErrBadRequest},
		{"session timeout overflowing", `{"topics":["orders"],"session_timeout_ms":10000000000000}`, api.ErrInvalidTimeout},
		{"visibility timeout overflowing", `{"topics":["orders"],"visibility_timeout_ms":9223372036854775807}`, api.ErrInvalidArgument},
		{"member_id too long", `{"topics":["orders"],"member_id":"` + strings.Repeat("m", 100000) + `"}`, api.ErrInvalidArgument},
		{"instance_id with a space", `{"topics":["orders"],"instance_id":"a b"}`, api.ErrInvalidArgument},
		{"client_id with a control character", `{"topics":["orders"],"client_id":"a\u0007"}`, api.ErrInvalidArgument},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, raw := s.Do("POST", "/groups/g/join", tt.body)
			wantError(t, status, raw, tt.want)
			if len(raw) > 1000 {
				t.Errorf("error of %d bytes echoes the request", len(raw))
			}
		})
	}
	status, raw := s.Do("POST", "/groups/bad%20id/join", `{"topics":["orders"]}`)
	wantError(t, status, raw, api.ErrInvalidArgument)

	// Delivery settings are the creator's; a later join naming others is refused.
	join(t, s, "g", api.JoinRequest{MemberID: "a", Topics: []string{"orders"}, MaxRetries: 5})
	status, raw = s.Do("POST", "/groups/g/join", api.JoinRequest{MemberID: "b", Topics: []string{"orders"}, MaxRetries: 2})
	wantError(t, status, raw, api.ErrInvalidArgument)
	join(t, s, "g", api.JoinRequest{MemberID: "b", Topics: []string{"orders"}, MaxRetries: 5})
	join(t, s, "g", api.JoinRequest{MemberID: "c", Topics: []string{"orders"}})
}

// The seed's "Partition Assignment" tables, with the range assignor:
// 2 consumers × 6 partitions, then C joins, then B crashes (stops
// heartbeating) and its partitions move after the session timeout.
func TestRangeSeedLayouts(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 6)
	req := func(id string) api.JoinRequest {
		return api.JoinRequest{MemberID: id, Topics: []string{"orders"}, Assignor: api.AssignorRange, SessionTimeoutMS: 1000}
	}
	a := join(t, s, "g", req("consumer-a"))
	b := join(t, s, "g", req("consumer-b"))
	converge(t, a, b)
	if got, want := layout(a, b), "consumer-a:[0 1 2] consumer-b:[3 4 5] "; got != want {
		t.Fatalf("2 consumers: %s, want %s", got, want)
	}
	c := join(t, s, "g", req("consumer-c"))
	converge(t, a, b, c)
	if got, want := layout(a, b, c), "consumer-a:[0 1] consumer-b:[2 3] consumer-c:[4 5] "; got != want {
		t.Fatalf("C joins: %s, want %s", got, want)
	}

	// B crashes: only A and C heartbeat. After B's session timeout, the
	// broker fences it on its own (no request needed) and rebalances.
	crashed := time.Now()
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		a.heartbeat()
		c.heartbeat()
		if d := describeGroup(t, s, "g"); len(d.Members) != 2 || d.State != api.GroupStateStable {
			return fmt.Errorf("B never timed out: %+v", d)
		}
		return nil
	})
	if since := time.Since(crashed); since < time.Second {
		t.Fatalf("B was removed %v after it stopped, before its 1 s session timeout", since)
	}
	converge(t, a, c)
	if got, want := layout(a, c), "consumer-a:[0 1 2] consumer-c:[3 4 5] "; got != want {
		t.Fatalf("B crashes: %s, want %s", got, want)
	}
	d := describeGroup(t, s, "g")
	if d.Rebalances.ByReason["session_timeout"] != 1 {
		t.Fatalf("rebalances = %+v, want one session_timeout", d.Rebalances)
	}
	// B learns it was fenced.
	status, raw := s.Do("POST", "/groups/g/heartbeat", api.HeartbeatRequest{MemberID: b.id, Generation: b.gen, OwnedPartitions: b.owned})
	wantError(t, status, raw, api.ErrFencedMember)
}

// The seed's "Maximum Consumers": 8 consumers, 6 partitions; 2 idle, and
// shown as idle.
func TestMoreConsumersThanPartitions(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 6)
	var ms []*member
	for i := range 8 {
		ms = append(ms, join(t, s, "g", api.JoinRequest{MemberID: "consumer-" + string(rune('1'+i)), Topics: []string{"orders"}}))
	}
	converge(t, ms...)
	owners := map[int32]string{}
	idle := 0
	for _, m := range ms {
		ps := m.owned["orders"]
		if len(ps) > 1 {
			t.Fatalf("%s owns %v", m.id, ps)
		}
		if len(ps) == 0 {
			idle++
		}
		for _, p := range ps {
			if o, dup := owners[p]; dup {
				t.Fatalf("partition %d owned by %s and %s", p, o, m.id)
			}
			owners[p] = m.id
		}
	}
	if idle != 2 || len(owners) != 6 {
		t.Fatalf("idle %d, owned %d", idle, len(owners))
	}
	d := describeGroup(t, s, "g")
	shownIdle := 0
	for _, m := range d.Members {
		if m.Idle {
			shownIdle++
			if len(m.AssignedPartitions) != 0 {
				t.Fatalf("idle member %s shows %v", m.MemberID, m.AssignedPartitions)
			}
		}
	}
	if shownIdle != 2 || len(d.Members) != 8 {
		t.Fatalf("GET /groups/g shows %d members, %d idle", len(d.Members), shownIdle)
	}
}

// Cooperative-sticky (the default): when B joins, A keeps the partitions
// that do not move in every answer it gets, and B gets a moving partition
// only after A released it.
func TestCooperativeJoinNeverRevokesUnmoved(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 6)
	a := join(t, s, "g", api.JoinRequest{MemberID: "a", Topics: []string{"orders"}})
	if len(a.owned["orders"]) != 6 {
		t.Fatalf("a owns %v", a.owned)
	}
	b := join(t, s, "g", api.JoinRequest{MemberID: "b", Topics: []string{"orders"}})
	if len(b.owned["orders"]) != 0 {
		t.Fatalf("b got %v before a released anything", b.owned)
	}
	b.heartbeat()
	if len(b.owned["orders"]) != 0 {
		t.Fatalf("b got %v before a released anything", b.owned)
	}
	resp := a.heartbeat()
	if len(resp.RevokedPartitions["orders"]) != 3 || len(resp.AssignedPartitions["orders"]) != 3 {
		t.Fatalf("a's heartbeat: %+v", resp)
	}
	kept := resp.AssignedPartitions["orders"]
	converge(t, a, b)
	for _, h := range a.history {
		for _, p := range kept {
			if !slices.Contains(h["orders"], p) {
				t.Fatalf("a lost unmoved partition %d in %v (history %v)", p, h, a.history)
			}
		}
	}
	if !slices.Equal(a.owned["orders"], kept) || len(b.owned["orders"]) != 3 {
		t.Fatalf("final %s", layout(a, b))
	}
	if d := describeGroup(t, s, "g"); d.Assignor != api.AssignorCooperativeSticky || d.Rebalances.Recent[0].Moved == nil {
		t.Fatalf("describe: %+v", d)
	}
}

// Eager strategies: when B joins, A gives up everything first; only then
// is the new plan handed out.
func TestEagerJoinRevokesAll(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 6)
	a := join(t, s, "g", api.JoinRequest{MemberID: "a", Topics: []string{"orders"}, Assignor: api.AssignorRange})
	b := join(t, s, "g", api.JoinRequest{MemberID: "b", Topics: []string{"orders"}, Assignor: api.AssignorRange})
	resp := a.heartbeat()
	if len(resp.AssignedPartitions["orders"]) != 0 || len(resp.RevokedPartitions["orders"]) != 6 {
		t.Fatalf("a's heartbeat after b joined: %+v", resp)
	}
	if b.heartbeat(); len(b.owned["orders"]) != 0 {
		t.Fatalf("b got %v before a released", b.owned)
	}
	converge(t, a, b)
	if got, want := layout(a, b), "a:[0 1 2] b:[3 4 5] "; got != want {
		t.Fatalf("%s, want %s", got, want)
	}
}

// A static member that restarts within its session timeout gets its
// partitions back with no rebalance.
func TestStaticMemberRestart(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 6)
	a := join(t, s, "g", api.JoinRequest{InstanceID: "host-a", Topics: []string{"orders"}, Assignor: api.AssignorRange, SessionTimeoutMS: 5000})
	b := join(t, s, "g", api.JoinRequest{InstanceID: "host-b", Topics: []string{"orders"}, Assignor: api.AssignorRange, SessionTimeoutMS: 5000})
	converge(t, a, b)
	before := describeGroup(t, s, "g")
	had := a.owned

	a.leave() // the process stops
	a2 := join(t, s, "g", api.JoinRequest{InstanceID: "host-a", Topics: []string{"orders"}, Assignor: api.AssignorRange, SessionTimeoutMS: 5000})
	if !sameAssignment(a2.owned, had) {
		t.Fatalf("restarted static member got %v, had %v", a2.owned, had)
	}
	b.heartbeat()
	after := describeGroup(t, s, "g")
	if after.Generation != before.Generation || after.Rebalances.Count != before.Rebalances.Count {
		t.Fatalf("restart rebalanced: generation %d → %d, rebalances %d → %d",
			before.Generation, after.Generation, before.Rebalances.Count, after.Rebalances.Count)
	}
	// The old member ID is fenced, with the documented code.
	status, raw := s.Do("POST", "/groups/g/poll", api.PollRequest{MemberID: a.id, Generation: a.gen})
	if a.id != a2.id {
		wantError(t, status, raw, api.ErrFencedMember)
	}
}

// Stale and unknown members get distinct codes on every group call.
func TestFencingErrors(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	a := join(t, s, "g", api.JoinRequest{MemberID: "a", Topics: []string{"orders"}})
	b := join(t, s, "g", api.JoinRequest{MemberID: "b", Topics: []string{"orders"}})
	converge(t, a, b)
	stale := a.gen - 1
	ref := []api.MessageRef{{Topic: "orders", Partition: a.owned["orders"][0], Offset: 0}}
	for _, tt := range []struct {
		name, path string
		body       any
		want       *api.Error
	}{
		{"heartbeat unknown", "g/heartbeat", api.HeartbeatRequest{MemberID: "ghost", Generation: 1}, api.ErrUnknownMember},
		// A heartbeat with an old generation learns the current one; one from
		// the future or below 0 is refused without fencing the member.
		{"heartbeat future", "g/heartbeat", api.HeartbeatRequest{MemberID: "a", Generation: a.gen + 5}, api.ErrStaleGeneration},
		{"heartbeat negative", "g/heartbeat", api.HeartbeatRequest{MemberID: "a", Generation: -1}, api.ErrStaleGeneration},
		{"poll unknown", "g/poll", api.PollRequest{MemberID: "ghost", Generation: a.gen}, api.ErrUnknownMember},
		{"poll stale", "g/poll", api.PollRequest{MemberID: "a", Generation: stale - 1}, api.ErrStaleGeneration},
		{"ack unknown", "g/ack", api.AckRequest{MemberID: "ghost", Generation: a.gen, Messages: ref}, api.ErrUnknownMember},
		{"ack not owner", "g/ack", api.AckRequest{MemberID: "b", Generation: b.gen, Messages: ref}, api.ErrNotOwner},
		{"commit stale", "g/offsets", api.CommitOffsetsRequest{MemberID: "a", Generation: stale - 1, Offsets: api.Offsets{"orders": {ref[0].Partition: 0}}}, api.ErrStaleGeneration},
		{"commit not owner", "g/offsets", api.CommitOffsetsRequest{MemberID: "b", Generation: b.gen, Offsets: api.Offsets{"orders": {ref[0].Partition: 0}}}, api.ErrNotOwner},
		{"leave unknown", "g/leave", api.LeaveRequest{MemberID: "ghost"}, api.ErrUnknownMember},
		{"unknown group", "nogroup/poll", api.PollRequest{MemberID: "a"}, api.ErrGroupNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, raw := s.Do("POST", "/groups/"+tt.path, tt.body)
			e := wantError(t, status, raw, tt.want)
			if e.Retriable != tt.want.Retriable {
				t.Fatalf("retriable = %v", e.Retriable)
			}
		})
	}
}
