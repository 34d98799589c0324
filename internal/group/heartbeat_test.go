package group

import (
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/google/go-cmp/cmp"
)

// A heartbeat without owned partitions (nil: absent or null on the wire)
// changes nothing the member owns; an explicit empty assignment releases
// everything, and an assignment without a partition releases that one.
func TestHeartbeatOwnedAbsentMeansNoChange(t *testing.T) {
	g, now := fixture(t)
	owned := g.members["A"].owned.assignment()
	if len(owned) == 0 {
		t.Fatal("fixture: A owns nothing")
	}
	res, err := g.Heartbeat(now, "A", g.Generation(), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := g.DrainReleased(); len(r) != 0 {
		t.Fatalf("a heartbeat without owned_partitions released %+v", r)
	}
	if d := cmp.Diff(owned, res.Assigned); d != "" || res.Revoked != nil {
		t.Fatalf("assigned (-before +after):\n%s revoked %v", d, res.Revoked)
	}
	if d := cmp.Diff(owned, g.members["A"].owned.assignment()); d != "" {
		t.Fatalf("owned changed (-before +after):\n%s", d)
	}

	first := g.members["A"].owned.sorted()[0]
	rest := g.members["A"].owned.without(parts{first: {}}).assignment()
	if _, err := g.Heartbeat(now, "A", g.Generation(), rest, 0); err != nil {
		t.Fatal(err)
	}
	if r := g.DrainReleased(); len(r) != 1 || r[0].Partition != first.part || r[0].Why != WhyReleased {
		t.Fatalf("a heartbeat without %v released %+v", first, r)
	}

	held := len(g.members["A"].owned)
	if _, err := g.Heartbeat(now, "A", g.Generation(), api.Assignment{}, 0); err != nil {
		t.Fatal(err)
	}
	if r := g.DrainReleased(); len(r) != held {
		t.Fatalf("a heartbeat with {} released %+v, want all %d", r, held)
	}
	if err := g.invariants(); err != nil {
		t.Fatal(err)
	}
}

// IDs follow the rules of group IDs' length, in printable ASCII: the
// longest legal ID joins, and an error never echoes a long ID whole.
func TestMemberIDLimits(t *testing.T) {
	g := New("g", Config{})
	counts := map[string]int32{"orders": 1}
	long := strings.Repeat("x", MaxIDLen)
	if _, err := g.Join(epoch0, JoinParams{MemberID: long, InstanceID: long, ClientID: long, Topics: []string{"orders"}}, counts); err != nil {
		t.Fatalf("join with %d-character IDs: %v", MaxIDLen, err)
	}
	res, err := g.Join(epoch0, JoinParams{ClientID: long, Topics: []string{"orders"}}, counts)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateID("member_id", res.MemberID); err != nil {
		t.Errorf("generated member ID %q: %v", res.MemberID, err)
	}
	err = ValidateID("member_id", strings.Repeat("y", 100000))
	if err == nil || len(err.Error()) > 200 {
		t.Errorf("error for a 100000-character ID: %d characters", len(err.Error()))
	}
}

// PollScope answers what Member does, renders the assignment once per
// change of it, and never changes a map it handed out: a poll reads it
// after the group's lock is released.
func TestPollScopeFollowsTheAssignment(t *testing.T) {
	g, now := fixture(t)
	scope := func() api.Assignment {
		t.Helper()
		topics, assigned, ok := g.PollScope("A")
		info, _ := g.Member("A")
		if !ok || !cmp.Equal(topics, info.Topics) || !cmp.Equal(assigned, info.Assigned) {
			t.Fatalf("PollScope %v %v %v, Member %v %v", topics, assigned, ok, info.Topics, info.Assigned)
		}
		return assigned
	}
	before := scope()
	if len(before) == 0 {
		t.Fatal("fixture: A is assigned nothing")
	}
	kept := cmp.Diff(api.Assignment{}, before) // what before held, as text
	if err := g.Leave(now, "B"); err != nil {
		t.Fatal(err)
	}
	converge(t, g, now, "A") // A takes B's partitions
	after := scope()
	if len(after["orders"]) != 4 {
		t.Fatalf("B left, PollScope answers %v for A", after)
	}
	if d := cmp.Diff(api.Assignment{}, before); d != kept {
		t.Fatalf("a map PollScope handed out changed:\n%s", d)
	}
	if _, _, ok := g.PollScope("nobody"); ok {
		t.Fatal("PollScope of an unknown member")
	}
}

// A heartbeat the network delayed past later ones (a retry answered first,
// then the original) says the member owns less than it was granted since;
// with seq it keeps the member alive and releases nothing. Without seq the
// same late report releases — what every heartbeat did before seq.
func TestHeartbeatOutOfOrderReleasesNothing(t *testing.T) {
	now := epoch0
	g := New("g", Config{})
	counts := map[string]int32{"orders": 2}
	for _, id := range []string{"A", "B"} {
		if _, err := g.Join(now, JoinParams{MemberID: id, Topics: []string{"orders"}}, counts); err != nil {
			t.Fatal(err)
		}
	}
	hb := func(id string, seq int64, owned api.Assignment) HeartbeatResult {
		t.Helper()
		res, err := g.Heartbeat(now, id, g.Generation(), owned, seq)
		if err != nil {
			t.Fatalf("heartbeat %s seq %d: %v", id, seq, err)
		}
		return res
	}
	both, first := api.Assignment{"orders": {0, 1}}, api.Assignment{"orders": {0}}
	if res := hb("A", 1, both); cmp.Diff(first, res.Assigned) != "" {
		t.Fatalf("A with B joined: assigned %v", res.Assigned)
	}
	hb("A", 2, first) // hands orders:1 over
	hb("B", 1, api.Assignment{})
	if err := g.Leave(now, "B"); err != nil {
		t.Fatal(err)
	}
	if res := hb("A", 3, first); cmp.Diff(both, res.Assigned) != "" {
		t.Fatalf("A alone again: assigned %v", res.Assigned)
	}
	hb("A", 4, both)
	g.DrainReleased()

	for _, seq := range []int64{2, 4} { // the original of seq 2; a retry of seq 4
		res := hb("A", seq, first)
		if r := g.DrainReleased(); len(r) != 0 {
			t.Fatalf("a late heartbeat (seq %d) released %+v", seq, r)
		}
		if cmp.Diff(both, res.Assigned) != "" || res.Revoked != nil {
			t.Fatalf("a late heartbeat (seq %d): assigned %v revoked %v", seq, res.Assigned, res.Revoked)
		}
	}
	if d := cmp.Diff(both, g.members["A"].owned.assignment()); d != "" {
		t.Fatalf("A's ownership changed (-want +got):\n%s", d)
	}

	hb("A", 0, first) // unordered: read as it says
	if r := g.DrainReleased(); len(r) != 1 || r[0].Partition != 1 {
		t.Fatalf("an unordered heartbeat without orders:1 released %+v", r)
	}
	if err := g.invariants(); err != nil {
		t.Fatal(err)
	}
}

// A join starts the count of heartbeats over: a restarted process numbers
// its heartbeats from 1 again, and its reports must be read, or it could
// never release what it is asked to and would be fenced for it.
func TestJoinStartsHeartbeatSeqOver(t *testing.T) {
	counts := map[string]int32{"orders": 2}
	for _, tc := range []struct {
		name  string
		leave bool // a static member leaves (keeping its place) before it comes back
	}{
		{"live member joins again", false},
		{"static member leaves and comes back", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := epoch0
			g := New("g", Config{})
			p := JoinParams{MemberID: "A", InstanceID: "host-a", Topics: []string{"orders"}}
			if _, err := g.Join(now, p, counts); err != nil {
				t.Fatal(err)
			}
			if _, err := g.Heartbeat(now, "A", g.Generation(), api.Assignment{"orders": {0, 1}}, 50); err != nil {
				t.Fatal(err)
			}
			if tc.leave {
				if err := g.Leave(now, "A"); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := g.Join(now, p, counts); err != nil {
				t.Fatal(err)
			}
			g.DrainReleased()
			if _, err := g.Heartbeat(now, "A", g.Generation(), api.Assignment{"orders": {0}}, 1); err != nil {
				t.Fatal(err)
			}
			if r := g.DrainReleased(); len(r) != 1 || r[0].Partition != 1 {
				t.Fatalf("the first heartbeat after the join (seq 1) released %+v, want orders:1", r)
			}
		})
	}
}
