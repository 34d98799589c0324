package broker

import (
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
)

// The settings a group's creating join fixed are kept in meta.db for the
// coordinator: a restarted broker's coordinator gets them back, and a
// deleted group's are forgotten.
func TestGroupSettingsKeptInMetaDB(t *testing.T) {
	cfg := testConfig(t)
	b := mustOpen(t, cfg)
	if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JoinGroup("g", JoinParams{MemberID: "a", Topics: []string{"orders"}, Assignor: api.AssignorRange,
		OffsetReset: api.OffsetResetLatest, MaxRetries: 5, VisibilityTimeout: 2 * time.Second, MaxInFlight: 7}, "h"); err != nil {
		t.Fatal(err)
	}
	if err := b.LeaveGroup("g", "a"); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = mustOpen(t, cfg)
	defer b.Close()
	want := groupstate.Saved{Assignor: api.AssignorRange, OffsetReset: api.OffsetResetLatest,
		Settings: groupstate.Settings{MaxRetries: 5, VisibilityTimeout: 2 * time.Second, MaxInFlight: 7}}
	if got, err := (coordIO{b}).GroupSettings(); err != nil || got["g"] != want {
		t.Fatalf("settings after a restart: %+v, %v; want g: %+v", got, err, want)
	}
	j, err := b.JoinGroup("g", JoinParams{MemberID: "b", Topics: []string{"orders"}}, "h")
	if err != nil || j.Assignor != api.AssignorRange {
		t.Fatalf("a creating join after a restart: assignor %q, %v; want the saved %q", j.Assignor, err, api.AssignorRange)
	}
	if err := b.LeaveGroup("g", "b"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteGroup("g"); err != nil {
		t.Fatal(err)
	}
	if got, err := (coordIO{b}).GroupSettings(); err != nil || len(got) != 0 {
		t.Fatalf("settings after the group's deletion: %+v, %v; want none", got, err)
	}
}
