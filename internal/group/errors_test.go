package group

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/assign"
	"github.com/google/go-cmp/cmp"
)

// fixture returns a stable group on orders (4 partitions) with members A
// (static, instance "ia") and B at generation 3, and a fenced member Z.
func fixture(t *testing.T) (*Group, time.Time) {
	t.Helper()
	now := epoch0
	g := New("g", Config{})
	counts := map[string]int32{"orders": 4}
	join := func(p JoinParams) {
		t.Helper()
		if _, err := g.Join(now, p, counts); err != nil {
			t.Fatalf("join %s: %v", p.MemberID, err)
		}
	}
	join(JoinParams{MemberID: "Z", Topics: []string{"orders"}, SessionTimeout: 5 * time.Second})
	join(JoinParams{MemberID: "A", InstanceID: "ia", Topics: []string{"orders"}})
	join(JoinParams{MemberID: "B", Topics: []string{"orders"}})
	now = now.Add(6 * time.Second)
	g.Tick(now) // fences Z
	converge(t, g, now, "A", "B")
	if g.State() != StateStable || g.Generation() != 4 {
		t.Fatalf("fixture: state %v gen %d", g.State(), g.Generation())
	}
	g.DrainReleased()
	return g, now
}

// converge heartbeats the members faithfully until the group is stable.
func converge(t *testing.T, g *Group, now time.Time, ids ...string) {
	t.Helper()
	held := map[string]api.Assignment{}
	for i := 0; i < 10 && g.State() != StateStable; i++ {
		for _, id := range ids {
			res, err := g.Heartbeat(now, id, g.Generation(), held[id], 0)
			if err != nil {
				t.Fatalf("heartbeat %s: %v", id, err)
			}
			held[id] = res.Assigned
		}
	}
	for _, id := range ids { // one more round so that every member knows
		res, err := g.Heartbeat(now, id, g.Generation(), held[id], 0)
		if err != nil {
			t.Fatalf("heartbeat %s: %v", id, err)
		}
		held[id] = res.Assigned
	}
}

// TestRejectedCalls checks every error path: the coded error, its
// retriability, and that the group is exactly as before the call.
func TestRejectedCalls(t *testing.T) {
	orders := []string{"orders"}
	counts := map[string]int32{"orders": 4}
	tests := []struct {
		name string
		call func(g *Group, now time.Time) error
		want *api.Error
	}{
		{"join without topics", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{MemberID: "C"}, counts)
			return err
		}, api.ErrInvalidArgument},
		{"join with empty topic name", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{MemberID: "C", Topics: []string{""}}, counts)
			return err
		}, api.ErrInvalidArgument},
		{"join with unknown assignor", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{MemberID: "C", Topics: orders, Assignor: "fair"}, counts)
			return err
		}, api.ErrInvalidAssignor},
		{"join with another assignor", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{MemberID: "C", Topics: orders, Assignor: assign.Range}, counts)
			return err
		}, api.ErrInconsistentAssignor},
		{"member rejoins with another assignor", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{MemberID: "B", Topics: orders, Assignor: assign.Sticky}, counts)
			return err
		}, api.ErrInconsistentAssignor},
		{"join with bad offset reset", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{MemberID: "C", Topics: orders, OffsetReset: "middle"}, counts)
			return err
		}, api.ErrInvalidArgument},
		{"session timeout below min", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{MemberID: "C", Topics: orders, SessionTimeout: time.Millisecond}, counts)
			return err
		}, api.ErrInvalidTimeout},
		{"session timeout above max", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{MemberID: "C", Topics: orders, SessionTimeout: time.Hour}, counts)
			return err
		}, api.ErrInvalidTimeout},
		{"negative session timeout", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{MemberID: "C", Topics: orders, SessionTimeout: -time.Second}, counts)
			return err
		}, api.ErrInvalidTimeout},
		{"negative rebalance timeout", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{MemberID: "C", Topics: orders, RebalanceTimeout: -time.Second}, counts)
			return err
		}, api.ErrInvalidTimeout},
		{"rebalance timeout above max", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{MemberID: "C", Topics: orders, RebalanceTimeout: time.Hour}, counts)
			return err
		}, api.ErrInvalidTimeout},
		{"live instance joins again", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{MemberID: "A2", InstanceID: "ia", Topics: orders}, counts)
			return err
		}, api.ErrDuplicateInstance},
		{"member rejoins under another instance", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{MemberID: "A", InstanceID: "other", Topics: orders}, counts)
			return err
		}, api.ErrInvalidArgument},
		{"assignor fails", func(g *Group, now time.Time) error {
			g.balance = func(string, []assign.Member, map[string]int32, assign.Plan) (assign.Plan, error) {
				return nil, errors.New("boom")
			}
			_, err := g.Join(now, JoinParams{MemberID: "C", Topics: orders}, counts)
			return err
		}, api.ErrInternal},
		{"join with a member_id too long", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{MemberID: strings.Repeat("m", 250), Topics: orders}, counts)
			return err
		}, api.ErrInvalidArgument},
		{"join with a space in instance_id", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{MemberID: "C", InstanceID: "i c", Topics: orders}, counts)
			return err
		}, api.ErrInvalidArgument},
		{"join with a control character in client_id", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{ClientID: "c\x00", Topics: orders}, counts)
			return err
		}, api.ErrInvalidArgument},
		{"join with a non-ASCII client_id", func(g *Group, now time.Time) error {
			_, err := g.Join(now, JoinParams{ClientID: "café", Topics: orders}, counts)
			return err
		}, api.ErrInvalidArgument},
		{"heartbeat with a member_id too long", func(g *Group, now time.Time) error {
			_, err := g.Heartbeat(now, strings.Repeat("A", 100000), 4, nil, 0)
			return err
		}, api.ErrInvalidArgument},
		{"leave with an empty member_id", func(g *Group, now time.Time) error {
			return g.Leave(now, "")
		}, api.ErrInvalidArgument},
		{"heartbeat of unknown member", func(g *Group, now time.Time) error {
			_, err := g.Heartbeat(now, "nobody", 4, nil, 0)
			return err
		}, api.ErrUnknownMember},
		{"heartbeat of fenced member", func(g *Group, now time.Time) error {
			_, err := g.Heartbeat(now, "Z", 1, nil, 0)
			return err
		}, api.ErrFencedMember},
		{"heartbeat from the future", func(g *Group, now time.Time) error {
			_, err := g.Heartbeat(now, "A", 99, nil, 0)
			return err
		}, api.ErrStaleGeneration},
		{"heartbeat with negative generation", func(g *Group, now time.Time) error {
			_, err := g.Heartbeat(now, "A", -1, nil, 0)
			return err
		}, api.ErrStaleGeneration},
		{"leave of unknown member", func(g *Group, now time.Time) error {
			return g.Leave(now, "nobody")
		}, api.ErrUnknownMember},
		{"leave of fenced member", func(g *Group, now time.Time) error {
			return g.Leave(now, "Z")
		}, api.ErrFencedMember},
		{"check of unknown member", func(g *Group, now time.Time) error {
			return g.CheckOwner("nobody", 4, "orders", 0)
		}, api.ErrUnknownMember},
		{"check of fenced member", func(g *Group, now time.Time) error {
			return g.CheckOwner("Z", 1, "orders", 0)
		}, api.ErrFencedMember},
		{"check with stale generation", func(g *Group, now time.Time) error {
			return g.CheckOwner("A", 3, "orders", firstOwned(g, "A"))
		}, api.ErrStaleGeneration},
		{"check with a generation from before the member joined", func(g *Group, now time.Time) error {
			return g.CheckOwner("A", 1, "orders", firstOwned(g, "A")) // its ID's earlier incarnation's
		}, api.ErrFencedMember},
		{"heartbeat with a generation from before the member joined", func(g *Group, now time.Time) error {
			_, err := g.Heartbeat(now, "A", 1, api.Assignment{}, 0)
			return err
		}, api.ErrFencedMember},
		{"check with future generation", func(g *Group, now time.Time) error {
			return g.CheckOwner("A", 5, "orders", firstOwned(g, "A"))
		}, api.ErrStaleGeneration},
		{"check of a partition owned by another", func(g *Group, now time.Time) error {
			return g.CheckOwner("A", 4, "orders", firstOwned(g, "B"))
		}, api.ErrNotOwner},
		{"check of a partition that does not exist", func(g *Group, now time.Time) error {
			return g.CheckOwner("A", 4, "orders", 9)
		}, api.ErrNotOwner},
		{"assignment with stale generation", func(g *Group, now time.Time) error {
			_, err := g.Assignment("A", 3)
			return err
		}, api.ErrStaleGeneration},
		{"delete with members", func(g *Group, now time.Time) error {
			return g.Delete()
		}, api.ErrGroupNotEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, now := fixture(t)
			before := g.Describe(now)
			err := tt.call(g, now)
			var ae *api.Error
			if !errors.As(err, &ae) || !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %s", err, tt.want.Code)
			}
			if ae.Retriable != tt.want.Retriable || ae.Message == "" {
				t.Errorf("err %+v: want retriable=%v and a message", ae, tt.want.Retriable)
			}
			if d := cmp.Diff(before, g.Describe(now)); d != "" {
				t.Errorf("group changed by a rejected call (-before +after):\n%s", d)
			}
			if r := g.DrainReleased(); len(r) != 0 {
				t.Errorf("rejected call released %v", r)
			}
			if err := g.invariants(); err != nil {
				t.Error(err)
			}
		})
	}
}

func firstOwned(g *Group, id string) int32 {
	for p := range g.members[id].owned {
		return p.part
	}
	panic("member owns nothing")
}

// TestDeadGroup checks that a deleted group answers GROUP_NOT_FOUND.
func TestDeadGroup(t *testing.T) {
	g := New("g", Config{})
	if err := g.Delete(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]error{
		"join":      second(g.Join(epoch0, JoinParams{Topics: []string{"orders"}}, nil)),
		"heartbeat": second(g.Heartbeat(epoch0, "A", 0, nil, 0)),
		"leave":     g.Leave(epoch0, "A"),
		"check":     g.CheckOwner("A", 0, "orders", 0),
		"delete":    g.Delete(),
	}
	for name, err := range calls {
		if !errors.Is(err, api.ErrGroupNotFound) {
			t.Errorf("%s: err = %v, want GROUP_NOT_FOUND", name, err)
		}
	}
	if g.State() != StateDead || g.Describe(epoch0).State != api.GroupStateDead {
		t.Errorf("state = %v", g.State())
	}
}

func second[T any](_ T, err error) error { return err }

// TestGenerationWindow checks that a member's previous generation still
// passes CheckOwner, so that requests in flight across a bump succeed, and
// that a partition being revoked may still be committed.
func TestGenerationWindow(t *testing.T) {
	g, now := fixture(t)
	if _, err := g.Join(now, JoinParams{MemberID: "C", Topics: []string{"orders"}}, map[string]int32{"orders": 4}); err != nil {
		t.Fatal(err)
	}
	revoking := 0
	for _, id := range []string{"A", "B"} {
		m := g.members[id]
		// The member has not heartbeated yet: its generation is still 4.
		if err := g.CheckOwner(id, 4, "orders", firstOwned(g, id)); err != nil {
			t.Fatalf("%s before heartbeat: %v", id, err)
		}
		res, err := g.Heartbeat(now, id, 4, m.owned.assignment(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.Generation != 5 || m.prevGen != 4 {
			t.Fatalf("%s: generation %d, previous %d", id, res.Generation, m.prevGen)
		}
		revoking += len(res.Revoked["orders"])
		for _, gen := range []int64{4, 5} {
			for q := range m.owned { // assigned and revoking alike
				if err := g.CheckOwner(id, gen, q.topic, q.part); err != nil {
					t.Errorf("%s gen %d, %s/%d: %v", id, gen, q.topic, q.part, err)
				}
			}
		}
	}
	if revoking != 1 {
		t.Fatalf("%d partitions revoked after C joined, want 1", revoking)
	}
}

// TestHeartbeatInterval checks min(configured interval, session/3).
func TestHeartbeatInterval(t *testing.T) {
	tests := []struct {
		session, interval, want time.Duration
	}{
		{30 * time.Second, 10 * time.Second, 10 * time.Second},
		{60 * time.Second, 10 * time.Second, 10 * time.Second},
		{6 * time.Second, 10 * time.Second, 2 * time.Second},
		{3 * time.Second, time.Second, time.Second},
	}
	for _, tt := range tests {
		g := New("g", Config{HeartbeatInterval: tt.interval})
		res, err := g.Join(epoch0, JoinParams{Topics: []string{"t"}, SessionTimeout: tt.session}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.HeartbeatInterval != tt.want {
			t.Errorf("session %v, interval %v: got %v, want %v", tt.session, tt.interval, res.HeartbeatInterval, tt.want)
		}
	}
}

// TestConfigValidate checks the broker-side configuration errors.
func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"unknown assignor", Config{DefaultAssignor: "fair"}, false},
		{"min above max", Config{MinSessionTimeout: time.Minute, MaxSessionTimeout: time.Second}, false},
		{"default outside bounds", Config{SessionTimeout: time.Hour}, false},
		{"eager default", Config{DefaultAssignor: assign.Range}, true},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v", tt.name, err)
		}
	}
}

// TestJoinRefusalNamesField: a join refused for a bad field says which
// field in details.field, so a client can point at it without parsing the
// message.
func TestJoinRefusalNamesField(t *testing.T) {
	orders := []string{"orders"}
	for _, tc := range []struct {
		name  string
		p     JoinParams
		field string
	}{
		{"no topics", JoinParams{MemberID: "C"}, "topics"},
		{"empty topic name", JoinParams{MemberID: "C", Topics: []string{""}}, "topics"},
		{"topics and a regex", JoinParams{MemberID: "C", Topics: orders, TopicRegex: "o.*"}, "topic_regex"},
		{"bad offset reset", JoinParams{MemberID: "C", Topics: orders, OffsetReset: "middle"}, "offset_reset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e *api.Error
			if err := (Config{}).CheckJoin(tc.p); !errors.As(err, &e) || !e.Is(api.ErrInvalidArgument) {
				t.Fatalf("CheckJoin: %v, want INVALID_ARGUMENT", err)
			}
			if got := e.Details["field"]; got != tc.field {
				t.Fatalf("details.field %v, want %q", got, tc.field)
			}
		})
	}
}

// A static member restarting while its old self is live is told when the
// instance frees up: a heartbeat interval and a half after the old self
// was last seen, not a whole wait from now. A holder whose heartbeat comes
// a little after its interval is still live.
func TestDuplicateInstanceRetryAfter(t *testing.T) {
	g, now := fixture(t) // A (instance "ia") heartbeated at now
	iv := g.cfg.heartbeatInterval(g.members["A"].sessionTimeout)
	quiet := iv + iv/2
	for _, tc := range []struct {
		after time.Duration
		want  int64
	}{
		{0, quiet.Milliseconds()},
		{iv / 3, (quiet - iv/3 + time.Millisecond - 1).Milliseconds()},
		{iv + 50*time.Millisecond, (quiet - iv - 50*time.Millisecond).Milliseconds()},
		{quiet - time.Microsecond, 1},
	} {
		_, err := g.Join(now.Add(tc.after), JoinParams{MemberID: "A2", InstanceID: "ia", Topics: []string{"orders"}}, map[string]int32{"orders": 4})
		var e *api.Error
		if !errors.As(err, &e) || e.Code != api.ErrDuplicateInstance.Code {
			t.Fatalf("%v after: %v, want DUPLICATE_INSTANCE_ID", tc.after, err)
		}
		if got := e.Details["retry_after_ms"]; got != tc.want {
			t.Errorf("%v after the last heartbeat: retry_after_ms %v, want %d", tc.after, got, tc.want)
		}
	}
}

// A join that names no rebalance timeout gets its session timeout, which
// an operator allowing sessions longer than --max-rebalance-timeout may
// put out of bounds. The refusal said "rebalance timeout 0s outside", a
// value the client never sent; it names the value used and the flag.
func TestRefusedRebalanceTimeoutNamesTheValueUsed(t *testing.T) {
	c := Config{SessionTimeout: 5 * time.Minute, MaxSessionTimeout: 10 * time.Minute, MaxRebalanceTimeout: time.Minute}
	orders := []string{"orders"}
	for _, tc := range []struct {
		name string
		p    JoinParams
		want []string
	}{
		{"neither timeout named", JoinParams{Topics: orders}, []string{"rebalance timeout (the join named none; its session timeout stands in) 5m0s outside", "--max-rebalance-timeout"}},
		{"session timeout named", JoinParams{Topics: orders, SessionTimeout: 2 * time.Minute}, []string{"named none", " 2m0s outside", "--max-rebalance-timeout"}},
		{"rebalance timeout named", JoinParams{Topics: orders, RebalanceTimeout: time.Hour}, []string{"rebalance timeout 1h0m0s outside (0, 1m0s]", "--max-rebalance-timeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.CheckJoin(tc.p)
			if !errors.Is(err, api.ErrInvalidTimeout) {
				t.Fatalf("CheckJoin: %v, want INVALID_TIMEOUT", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CheckJoin: %q, want it to say %q", err, w)
				}
			}
		})
	}
}
