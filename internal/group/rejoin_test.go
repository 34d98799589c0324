package group

import (
	"errors"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// A join naming a live member's ID starts a new incarnation of it: what the
// old one owned is released at once (so its in-flight messages go back),
// the new one gets a generation the old one never held, and the old one's
// calls are refused.
func TestRejoinFencesOldIncarnation(t *testing.T) {
	g, now := fixture(t)
	oldGen := g.members["B"].gen
	held := g.members["B"].owned.sorted()
	if len(held) == 0 {
		t.Fatal("fixture: B owns nothing")
	}
	res, err := g.Join(now, JoinParams{MemberID: "B", Topics: []string{"orders"}}, map[string]int32{"orders": 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.MemberID != "B" || res.Generation <= oldGen {
		t.Fatalf("rejoin: member %q generation %d, want B above %d", res.MemberID, res.Generation, oldGen)
	}
	rel := g.DrainReleased()
	if len(rel) != len(held) {
		t.Fatalf("rejoin released %+v, want B's %v", rel, held)
	}
	for i, r := range rel {
		if r.Member != "B" || r.Why != WhyRejoined || (tp{r.Topic, r.Partition}) != held[i] {
			t.Fatalf("release %d: %+v, want B's %v (rejoined)", i, r, held[i])
		}
	}
	if len(res.Assigned["orders"]) == 0 {
		t.Errorf("new incarnation assigned %v, want its partitions back", res.Assigned)
	}
	for _, p := range res.Assigned["orders"] {
		if err := g.CheckOwner("B", oldGen, "orders", p); !errors.Is(err, api.ErrFencedMember) {
			t.Errorf("old incarnation's check of orders/%d: %v, want FENCED_MEMBER", p, err)
		}
		if err := g.CheckOwner("B", res.Generation, "orders", p); err != nil {
			t.Errorf("new incarnation's check of orders/%d: %v", p, err)
		}
	}
	if _, err := g.Heartbeat(now, "B", oldGen, api.Assignment{"orders": {0, 1, 2, 3}}, 0); !errors.Is(err, api.ErrFencedMember) {
		t.Errorf("old incarnation's heartbeat: %v, want FENCED_MEMBER", err)
	}
	if len(g.DrainReleased()) != 0 {
		t.Error("a refused heartbeat released partitions")
	}
	if _, err := g.Heartbeat(now.Add(time.Second), "B", res.Generation, res.Assigned, 0); err != nil {
		t.Errorf("new incarnation's heartbeat: %v", err)
	}
	if err := g.invariants(); err != nil {
		t.Fatal(err)
	}
}

// A member ID that joins as a new member (its member gone: fenced, or
// left, or known only to the group's previous coordinator, as the client
// chooses it) starts a new incarnation too: the calls of an earlier one
// still carrying its generation (a zombie fenced by its session timeout)
// are refused, and its heartbeat releases nothing. The zombie's heartbeat
// was taken as the new member's, releasing what it had been given.
func TestJoinAgainFencesGoneIncarnation(t *testing.T) {
	g, now := fixture(t) // Z joined at generation 1 and was fenced
	res, err := g.Join(now, JoinParams{MemberID: "Z", Topics: []string{"orders"}}, map[string]int32{"orders": 4})
	if err != nil {
		t.Fatal(err)
	}
	converge(t, g, now, "A", "B", "Z")
	g.DrainReleased()
	if len(g.members["Z"].owned) == 0 {
		t.Fatalf("Z (generation %d) owns nothing", res.Generation)
	}
	if _, err := g.Heartbeat(now, "Z", 1, api.Assignment{}, 0); !errors.Is(err, api.ErrFencedMember) {
		t.Errorf("the fenced incarnation's heartbeat: %v, want FENCED_MEMBER", err)
	}
	if err := g.CheckOwner("Z", 1, "orders", g.members["Z"].owned.sorted()[0].part); !errors.Is(err, api.ErrFencedMember) {
		t.Errorf("the fenced incarnation's check: %v, want FENCED_MEMBER", err)
	}
	if rel := g.DrainReleased(); len(rel) != 0 {
		t.Errorf("a refused heartbeat released %+v", rel)
	}
}
