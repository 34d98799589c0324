package coordinator

import (
	"errors"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// A group's settings, fixed by the join that created it, survive its
// members leaving and a restart: a later creating join that names none
// gets them back, one that names some replaces those; deleting the group
// forgets them.
func TestGroupSettingsSurviveRestart(t *testing.T) {
	tb := newTestBroker(t, time.Now)
	cfg := testConfig(t, nil)
	c := mustOpen(t, cfg, tb)
	tb.createTopic("orders", 2)
	if _, err := c.JoinGroup("g", JoinParams{MemberID: "a", Topics: []string{"orders"}, Assignor: api.AssignorRange,
		OffsetReset: api.OffsetResetLatest, MaxRetries: 5, VisibilityTimeout: time.Duration(2000) * time.Millisecond, MaxInFlight: 7}, "h"); err != nil {
		t.Fatal(err)
	}
	if err := c.LeaveGroup("g", "a"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = mustOpen(t, cfg, tb)
	check := func(step, assignor string, retries int, visibility time.Duration, inFlight int, reset string) {
		t.Helper()
		j, err := c.JoinGroup("g", JoinParams{MemberID: "b", Topics: []string{"orders"}}, "h")
		if err != nil {
			t.Fatal(err)
		}
		cg, err := c.lookup("g")
		if err != nil {
			t.Fatal(err)
		}
		cg.mu.Lock()
		d, gotReset := cg.a.DeliveryConfig(), cg.a.OffsetReset()
		cg.mu.Unlock()
		if j.Assignor != assignor || d.MaxRetries != retries || d.VisibilityTimeout != visibility || d.MaxInFlightPerMember != inFlight || gotReset != reset {
			t.Fatalf("%s: assignor %s, delivery %+v, offset_reset %q", step, j.Assignor, d, gotReset)
		}
		if err := c.LeaveGroup("g", "b"); err != nil {
			t.Fatal(err)
		}
	}
	check("after a restart", api.AssignorRange, 5, 2*time.Second, 7, api.OffsetResetLatest)

	// A creating join that names a setting replaces it, and keeps the rest.
	if _, err := c.JoinGroup("g", JoinParams{MemberID: "c", Topics: []string{"orders"}, Assignor: api.AssignorSticky, MaxRetries: 1}, "h"); err != nil {
		t.Fatal(err)
	}
	if err := c.LeaveGroup("g", "c"); err != nil {
		t.Fatal(err)
	}
	check("after a change", api.AssignorSticky, 1, 2*time.Second, 7, api.OffsetResetLatest)

	if err := c.DeleteGroup("g"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = mustOpen(t, cfg, tb)
	defer c.Close()
	def := c.cfg.Delivery
	check("after deletion and a restart", api.AssignorCooperativeSticky, def.MaxRetries, def.VisibilityTimeout, def.MaxInFlightPerMember, "")
}

// A join refused for what needs no group (a bad offset_reset, assignor or
// session timeout, no topics) creates no group: it created an empty one,
// listed by GET /groups and counted against --max-groups (a user found
// it).
func TestRefusedJoinCreatesNoGroup(t *testing.T) {
	c, tb := openTest(t, nil)
	tb.createTopic("t", 1)
	for name, p := range map[string]JoinParams{
		"offset_reset": {Topics: []string{"t"}, OffsetReset: "yesterday"},
		"assignor":     {Topics: []string{"t"}, Assignor: "best"},
		"session":      {Topics: []string{"t"}, SessionTimeout: 5 * time.Millisecond},
		"no topics":    {},
	} {
		if _, err := c.JoinGroup("refused", p, "h"); err == nil {
			t.Fatalf("%s: join taken", name)
		}
		if _, err := c.GroupOffsets("refused"); !errors.Is(err, api.ErrGroupNotFound) {
			t.Fatalf("%s: after the refused join the group exists (%v)", name, err)
		}
	}
}
