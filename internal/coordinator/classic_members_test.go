package coordinator

import (
	"errors"
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// A classic group's membership is saved under its hold and handed, once,
// to the front end of the node that adopts the group next, held for it.
// A save under an ended hold is dropped (a front end's state of a group it
// lost must not overwrite its successor's), but for an empty save while
// nobody holds the group (it just emptied); a group dropped takes its
// adopted membership with it.
func TestClassicMembersFollowTheGroup(t *testing.T) {
	c, _ := openTest(t, nil)
	r := &fakeRepl{stored: map[string]map[delivery.TP]offsetstore.Offset{}, saved: map[string]groupstate.Saved{}}
	c.Replicate(r)
	r.adopt(c, 1)
	saved := func() string {
		r.mu.Lock()
		defer r.mu.Unlock()
		return string(r.classic["k"])
	}
	save := func(token uint64, members string) {
		t.Helper()
		if err := c.SaveClassicMembers("k", token, []byte(members)); err != nil {
			t.Fatal(err)
		}
	}

	h1, err := c.HoldClassicGroup("k")
	if err != nil {
		t.Fatal(err)
	}
	save(h1.Token, "gen 1")
	if got := saved(); got != "gen 1" {
		t.Fatalf("saved %q under the hold, want gen 1", got)
	}
	c.ReleaseClassicGroup("k")
	h2, err := c.HoldClassicGroup("k")
	if err != nil || h2.Token == h1.Token {
		t.Fatalf("second hold %+v (first %+v), %v: want a new token", h2, h1, err)
	}
	save(h1.Token, "stale")
	save(h1.Token, "") // not the hold released last any more
	if got := saved(); got != "gen 1" {
		t.Fatalf("saved %q, want gen 1 (the first hold's saves dropped)", got)
	}
	save(h2.Token, "gen 2")
	if got := saved(); got != "gen 2" {
		t.Fatalf("saved %q, want gen 2", got)
	}

	// The group moves: the next coordinator's front end restores it once.
	r.adopt(c, 2)
	if c.ClassicHeld("k") {
		t.Fatal("an adopted group is held before its front end restored it")
	}
	members, h3, ok := c.AdoptedClassicMembers("k")
	if !ok || string(members) != "gen 2" || !c.ClassicHeld("k") || h3.Token == h2.Token {
		t.Fatalf("adopted members %q, hold %+v, %v, held %v; want gen 2, held under a new token", members, h3, ok, c.ClassicHeld("k"))
	}
	if _, _, again := c.AdoptedClassicMembers("k"); again {
		t.Fatal("adopted members handed out twice")
	}
	save(h2.Token, "before the move") // a save of the group it had before
	if got := saved(); got != "gen 2" {
		t.Fatalf("saved %q, want gen 2", got)
	}
	c.ReleaseClassicGroup("k")                         // its last member left
	if _, err := c.HoldClassicGroup("k"); err != nil { // and a join answered MEMBER_ID_REQUIRED
		t.Fatal(err)
	}
	c.ReleaseClassicGroup("k")
	save(h3.Token, "")
	if got := saved(); got != "" {
		t.Fatalf("saved %q after the group emptied, want nothing", got)
	}

	r.mu.Lock()
	r.classic["k"] = []byte("gen 5")
	r.mu.Unlock()
	r.adopt(c, 3)
	if got := c.AdoptedClassicGroups(); !slices.Equal(got, []string{"k"}) {
		t.Fatalf("adopted classic groups %v, want [k]", got)
	}
	c.Drop(func(string) bool { return true })
	if _, _, ok := c.AdoptedClassicMembers("k"); ok || len(c.AdoptedClassicGroups()) != 0 {
		t.Fatal("the members of a dropped group handed out")
	}
	// The group moved on: a front end that has not heard yet is told
	// NOT_COORDINATOR (its client looks again), not GROUP_NOT_FOUND.
	r.claimEpoch(0)
	if _, err := c.GroupProtocol("k"); !errors.Is(err, api.ErrNotCoordinator) {
		t.Fatalf("a group no longer coordinated here: %v, want NOT_COORDINATOR", err)
	}
}
