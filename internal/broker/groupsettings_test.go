package broker

import (
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// A group's settings, fixed by the join that created it, survive its
// members leaving and a restart: a later creating join that names none
// gets them back, one that names some replaces those; deleting the group
// forgets them.
func TestGroupSettingsSurviveRestart(t *testing.T) {
	cfg := testConfig(t)
	b := mustOpen(t, cfg)
	if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JoinGroup("g", JoinParams{MemberID: "a", Topics: []string{"orders"}, Assignor: api.AssignorRange,
		OffsetReset: api.OffsetResetLatest, MaxRetries: 5, VisibilityTimeout: time.Duration(2000) * time.Millisecond, MaxInFlight: 7}, "h"); err != nil {
		t.Fatal(err)
	}
	if err := b.LeaveGroup("g", "a"); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = mustOpen(t, cfg)
	check := func(step, assignor string, retries int, visibility time.Duration, inFlight int, reset string) {
		t.Helper()
		j, err := b.JoinGroup("g", JoinParams{MemberID: "b", Topics: []string{"orders"}}, "h")
		if err != nil {
			t.Fatal(err)
		}
		cg, err := b.coord.lookup("g")
		if err != nil {
			t.Fatal(err)
		}
		cg.mu.Lock()
		d, gotReset := cg.d.Config(), cg.offsetReset
		cg.mu.Unlock()
		if j.Assignor != assignor || d.MaxRetries != retries || d.VisibilityTimeout != visibility || d.MaxInFlightPerMember != inFlight || gotReset != reset {
			t.Fatalf("%s: assignor %s, delivery %+v, offset_reset %q", step, j.Assignor, d, gotReset)
		}
		if err := b.LeaveGroup("g", "b"); err != nil {
			t.Fatal(err)
		}
	}
	check("after a restart", api.AssignorRange, 5, 2*time.Second, 7, api.OffsetResetLatest)

	// A creating join that names a setting replaces it, and keeps the rest.
	if _, err := b.JoinGroup("g", JoinParams{MemberID: "c", Topics: []string{"orders"}, Assignor: api.AssignorSticky, MaxRetries: 1}, "h"); err != nil {
		t.Fatal(err)
	}
	if err := b.LeaveGroup("g", "c"); err != nil {
		t.Fatal(err)
	}
	check("after a change", api.AssignorSticky, 1, 2*time.Second, 7, api.OffsetResetLatest)

	if err := b.DeleteGroup("g"); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = mustOpen(t, cfg)
	defer b.Close()
	def := b.coord.dcfg
	check("after deletion and a restart", api.AssignorCooperativeSticky, def.MaxRetries, def.VisibilityTimeout, def.MaxInFlightPerMember, "")
}
