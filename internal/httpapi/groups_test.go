package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
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

// A group whose members all left keeps its assignor for the next join, and
// GET /groups shows it: it showed "" (and the CLI "-") while a join that
// left the assignor out got the one kept.
func TestEmptyGroupShowsTheAssignorItKeeps(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	m := join(t, s, "g", api.JoinRequest{MemberID: "m", Topics: []string{"orders"}, Assignor: api.AssignorRange})
	if status, raw := s.Do("POST", "/groups/g/leave", api.LeaveRequest{MemberID: m.id}); status != http.StatusNoContent {
		t.Fatalf("leave: %d %s", status, raw)
	}
	if d := describeGroup(t, s, "g"); d.State != "empty" || d.Assignor != api.AssignorRange {
		t.Fatalf("empty group: state %q assignor %q, want empty, %q", d.State, d.Assignor, api.AssignorRange)
	}
	var list api.GroupList
	if status := s.DoJSON("GET", "/groups", nil, &list); status != http.StatusOK || len(list.Groups) != 1 || list.Groups[0].Assignor != api.AssignorRange {
		t.Fatalf("GET /groups: %d %+v", status, list)
	}
	var again api.JoinResponse
	if status := s.DoJSON("POST", "/groups/g/join", api.JoinRequest{Topics: []string{"orders"}}, &again); status != http.StatusOK || again.Assignor != api.AssignorRange {
		t.Fatalf("join again: %d %+v", status, again)
	}
}

// The guide's strategy names ("RoundRobin", "Cooperative") are taken as
// the strategies they name; the group shows the canonical name.
func TestJoinAssignorAsTheGuideNamesIt(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	for group, tc := range map[string]struct{ sent, want string }{
		"g1": {"RoundRobin", api.AssignorRoundRobin},
		"g2": {"Cooperative", api.AssignorCooperativeSticky},
		"g3": {"Sticky", api.AssignorSticky},
	} {
		status, raw := s.Do("POST", "/groups/"+group+"/join", api.JoinRequest{Topics: []string{"orders"}, Assignor: tc.sent})
		var resp api.JoinResponse
		if status != http.StatusOK {
			t.Fatalf("join with assignor %q: %d %s", tc.sent, status, raw)
		}
		mustUnmarshal(t, raw, &resp)
		if resp.Assignor != tc.want || describeGroup(t, s, group).Assignor != tc.want {
			t.Fatalf("join with assignor %q: answered %q, described %q, want %q", tc.sent, resp.Assignor, describeGroup(t, s, group).Assignor, tc.want)
		}
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
	// A group ID takes what Kafka's takes (a space, a '/'), not a control
	// character.
	status, raw := s.Do("POST", "/groups/bad%07id/join", `{"topics":["orders"]}`)
	wantError(t, status, raw, api.ErrInvalidArgument)
	for escaped, id := range map[string]string{"team%2Fapp%20eu": "team/app eu", "a%2F%2Fb": "a//b", "team%2F": "team/", "x%2F..": "x/.."} {
		join(t, s, escaped, api.JoinRequest{Topics: []string{"orders"}})
		if status, raw := s.Do("GET", "/groups/"+escaped, ""); status != 200 || !strings.Contains(string(raw), `"group_id":"`+id+`"`) {
			t.Fatalf("GET /groups/%s: %d %s", escaped, status, raw)
		}
	}
	// A path unclean as sent is still refused.
	if status, _ := s.Do("GET", "/groups/a/../b", ""); status != http.StatusNotFound {
		t.Fatalf("GET /groups/a/../b: %d, want 404", status)
	}

	// Delivery settings are the creator's; a later join naming others is refused.
	join(t, s, "g", api.JoinRequest{MemberID: "a", Topics: []string{"orders"}, MaxRetries: 5})
	status, raw = s.Do("POST", "/groups/g/join", api.JoinRequest{MemberID: "b", Topics: []string{"orders"}, MaxRetries: 2})
	wantError(t, status, raw, api.ErrInvalidArgument)
	join(t, s, "g", api.JoinRequest{MemberID: "b", Topics: []string{"orders"}, MaxRetries: 5})
	join(t, s, "g", api.JoinRequest{MemberID: "c", Topics: []string{"orders"}})
}

// A group that starts at the latest offsets is behind only by what was
// published since it joined, before its first poll too: it showed every
// message of the partition as lag (and its age as time lag), none of
// which it would ever be given.
func TestLatestGroupLagCountsFromItsJoin(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	publishSpread(t, s, "orders", 3)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}, OffsetReset: api.OffsetResetLatest})
	lag := func() (int64, int64) {
		t.Helper()
		d := describeGroup(t, s, "g")
		if len(d.Partitions) != 1 {
			t.Fatalf("partitions %+v", d.Partitions)
		}
		return d.Lag, d.Partitions[0].Lag
	}
	if total, p := lag(); total != 0 || p != 0 {
		t.Fatalf("lag right after the join: %d (partition %d), want 0", total, p)
	}
	publishSpread(t, s, "orders", 2)
	if total, p := lag(); total != 2 || p != 2 {
		t.Fatalf("lag after 2 more: %d (partition %d), want 2", total, p)
	}
	if got := m.poll(10, 0); len(got) != 2 || got[0].Offset != 3 {
		t.Fatalf("first poll %v, want offsets 3 and 4", refs(got))
	}
}

// A join's answer tells the member its in-flight cap — the group's, or
// the broker's default (--max-in-flight) — so that a client that named
// none knows how many messages the broker lets it hold: the Go client
// guessed 1000, and under a smaller cap it held acknowledgements back
// that the broker waited for before delivering more.
func TestJoinAnswerTellsTheInFlightCap(t *testing.T) {
	s := brokertest.Start(t, brokertest.WithConfig(func(c *broker.Config) { c.Delivery.MaxInFlightPerMember = 16 }))
	createTopic(t, s, "orders", 1)
	for _, tc := range []struct {
		group       string
		named, want int
	}{
		{"defaults", 0, 16},
		{"own", 7, 7},
	} {
		var resp api.JoinResponse
		status, raw := s.Do("POST", "/groups/"+tc.group+"/join", api.JoinRequest{Topics: []string{"orders"}, MaxInFlight: tc.named})
		if status != http.StatusOK {
			t.Fatalf("join %s: %d %s", tc.group, status, raw)
		}
		mustUnmarshal(t, raw, &resp)
		if resp.MaxInFlight != tc.want {
			t.Errorf("join of group %s naming %d: max_in_flight %d, want %d", tc.group, tc.named, resp.MaxInFlight, tc.want)
		}
	}
	// A later member naming none is told the group's, fixed by its creator.
	var resp api.JoinResponse
	status, raw := s.Do("POST", "/groups/own/join", api.JoinRequest{Topics: []string{"orders"}})
	if status != http.StatusOK {
		t.Fatalf("second join: %d %s", status, raw)
	}
	if mustUnmarshal(t, raw, &resp); resp.MaxInFlight != 7 {
		t.Errorf("second member of group own: max_in_flight %d, want the group's 7", resp.MaxInFlight)
	}
}
