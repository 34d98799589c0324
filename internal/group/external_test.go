package group

import (
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/assign"
)

// A rebalance of an externally assigned group opens once however many
// members join it, is open (and counted until now) until the assignment is
// handed out, and then carries its generation and what moved. The group of
// the same ID counts each closed one as its own, and its generation follows.
func TestExternalHistory(t *testing.T) {
	t0 := time.UnixMilli(1_000_000)
	e, g := NewExternalHistory(), New("g", Config{RecentRebalances: 2})
	stats := func(now time.Time) api.RebalanceStats {
		if open, ok := e.Open(); ok {
			return WithOpen(g.Rebalances(now), open, now)
		}
		return g.Rebalances(now)
	}
	closeAt := func(now time.Time, gen int64, prev, next assign.Plan) (api.Rebalance, bool) {
		r, ok := e.Close(now, gen, prev, next)
		if ok {
			g.RecordExternal(r)
		}
		return r, ok
	}
	e.Start(t0, 1, ReasonMemberJoined)
	e.Start(t0.Add(time.Second), 1, ReasonMemberLeft) // joins the open one
	s := stats(t0.Add(2 * time.Second))
	if s.Count != 1 || !s.InProgress || s.TotalDurationMS != 2000 || s.ByReason["member_joined"] != 1 || len(s.Recent) != 1 || s.Recent[0].Generation != 1 {
		t.Fatalf("open: %+v", s)
	}
	if g.Generation() != 0 {
		t.Fatalf("generation %d while the first rebalance is open", g.Generation())
	}
	if r, ok := closeAt(t0.Add(3*time.Second), 1, nil, assign.Plan{"a": {"t": {0, 1}}}); !ok || r.Generation != 1 || r.DurationMS != 3000 || len(r.Moved) != 2 {
		t.Fatalf("closed %+v, %v", r, ok)
	}
	if _, ok := closeAt(t0.Add(4*time.Second), 2, nil, nil); ok { // nothing open
		t.Fatal("closed a rebalance that was not open")
	}
	e.Start(t0.Add(5*time.Second), 2, ReasonSessionTimeout)
	closeAt(t0.Add(5500*time.Millisecond), 2, assign.Plan{"a": {"t": {0, 1}}}, assign.Plan{"a": {"t": {0}}, "b": {"t": {1}}})
	e.Start(t0.Add(6*time.Second), 3, ReasonMemberLeft)
	closeAt(t0.Add(6*time.Second), 3, assign.Plan{"a": {"t": {0}}, "b": {"t": {1}}}, assign.Plan{"b": {"t": {0, 1}}})
	s = stats(t0.Add(7 * time.Second))
	want := []api.Rebalance{
		{Generation: 3, Reason: "member_left", StartedAt: 1_006_000, EndedAt: 1_006_000, Moved: []api.Move{{Topic: "t", Partition: 0, From: "a", To: "b"}}},
		{Generation: 2, Reason: "session_timeout", StartedAt: 1_005_000, EndedAt: 1_005_500, DurationMS: 500, Moved: []api.Move{{Topic: "t", Partition: 1, From: "a", To: "b"}}},
	}
	if s.Count != 3 || s.InProgress || s.TotalDurationMS != 3500 || len(s.Recent) != 2 || s.ByReason["member_left"] != 1 || g.Generation() != 3 {
		t.Fatalf("closed: %+v, generation %d", s, g.Generation())
	}
	for i, r := range want {
		got := s.Recent[i]
		if got.Generation != r.Generation || got.Reason != r.Reason || got.StartedAt != r.StartedAt || got.EndedAt != r.EndedAt ||
			got.DurationMS != r.DurationMS || len(got.Moved) != len(r.Moved) || got.Moved[0] != r.Moved[0] {
			t.Fatalf("recent[%d] = %+v, want %+v", i, got, r)
		}
	}
	// A view that read the rebalance open, with statistics read after it
	// closed and was counted, counts it once.
	e.Start(t0.Add(7*time.Second), 4, ReasonMemberJoined)
	open, _ := e.Open()
	closeAt(t0.Add(7500*time.Millisecond), 4, nil, nil)
	if s = WithOpen(g.Rebalances(t0.Add(8*time.Second)), open, t0.Add(8*time.Second)); s.Count != 4 || s.InProgress || s.TotalDurationMS != 4000 {
		t.Fatalf("a rebalance read open and counted closed: %+v", s)
	}
	// A member of the group's own joining later starts past them.
	if _, err := g.Join(t0.Add(8*time.Second), JoinParams{Topics: []string{"t"}}, map[string]int32{"t": 2}); err != nil {
		t.Fatal(err)
	}
	if g.Generation() <= 4 {
		t.Fatalf("generation %d after a join, want past 4", g.Generation())
	}
}
