package coordinator

import (
	"testing"
	"time"
)

// A second member joining shows in the rebalance history with the
// partitions that moved to it, and the history survives a restart; the
// restored group's generations go on after the last it kept.
func TestRebalanceHistorySurvivesRestart(t *testing.T) {
	tb := newTestBroker(t, time.Now)
	cfg := testConfig(t, nil)
	co := mustOpen(t, cfg, tb)
	tb.createTopic("orders", 2)
	hb := func(j JoinResult, owned Assignment) HeartbeatResult {
		t.Helper()
		r, err := co.Heartbeat("billing", HeartbeatParams{MemberID: j.MemberID, Generation: j.Generation, Owned: owned}, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := must(co.JoinGroup("billing", JoinParams{MemberID: "a", Topics: []string{"orders"}}, "127.0.0.1"))
	hb(a, a.Assigned)
	c := must(co.JoinGroup("billing", JoinParams{MemberID: "c", Topics: []string{"orders"}}, "127.0.0.1"))
	// a releases what c is to own; c then gets it.
	ra := hb(a, a.Assigned)
	ra = hb(a, ra.Assigned)
	a.Generation = ra.Generation
	c.Generation = ra.Generation
	rc := hb(c, Assignment{})
	hb(c, rc.Assigned)
	hb(a, ra.Assigned)

	h := must(co.RebalanceHistory("billing"))
	var joined *Rebalance
	for i, r := range h {
		if r.Reason == "member_joined" && !r.EndedAt.IsZero() && len(r.Moved) > 0 && r.Moved[0].To == "c" {
			joined = &h[i]
		}
	}
	if joined == nil {
		t.Fatalf("no closed member_joined rebalance moving a partition to c in %+v", h)
	}
	if joined.Moved[0].From != "a" {
		t.Fatalf("moved %+v; want from a to c", joined.Moved)
	}
	// An offset keeps the group across the restart.
	if err := co.CommitOffsets("billing", CommitParams{MemberID: "a", Generation: ra.Generation, Offsets: Offsets{"orders": {0: 0}}}, "h"); err != nil {
		t.Fatal(err)
	}
	co.sampleHistory() // flushes to the file
	if err := co.Close(); err != nil {
		t.Fatal(err)
	}

	co = mustOpen(t, cfg, tb)
	defer co.Close()
	h2 := must(co.RebalanceHistory("billing"))
	found := false
	for _, r := range h2 {
		found = found || (r.StartedAt.Equal(joined.StartedAt) && len(r.Moved) == len(joined.Moved))
	}
	if !found {
		t.Fatalf("after restart %+v; want the rebalance of %v", h2, joined.StartedAt)
	}
	if d := must(co.DescribeGroup("billing")); d.Generation != h2[0].Generation {
		t.Fatalf("restored at generation %d, its last rebalance was %d", d.Generation, h2[0].Generation)
	}
	if j := must(co.JoinGroup("billing", JoinParams{MemberID: "d", Topics: []string{"orders"}}, "127.0.0.1")); j.Generation <= h2[0].Generation {
		t.Fatalf("a join after the restart is at generation %d, the group was at %d", j.Generation, h2[0].Generation)
	}
	h3 := must(co.RebalanceHistory("billing"))
	for i := 1; i < len(h3); i++ {
		if h3[i].Generation >= h3[i-1].Generation {
			t.Fatalf("generations out of order after the restart: %+v", h3)
		}
	}
	if _, err := co.RebalanceHistory("nobody"); err == nil {
		t.Fatal("history of an unknown group: no error")
	}
}

func TestLagHistorySamplesGroups(t *testing.T) {
	co, tb := openTest(t, nil)
	tb.createTopic("orders", 1)
	must(co.JoinGroup("billing", JoinParams{MemberID: "a", Topics: []string{"orders"}}, "127.0.0.1"))
	co.sampleHistory()
	x := []byte("x")
	tb.publish("orders", 0, x, x, x, x, x)
	co.sampleHistory()
	h := must(co.LagHistory("billing", time.Now().Add(-time.Minute), 1000))
	peak := int64(-1)
	for _, v := range h.Lag {
		peak = max(peak, v)
	}
	if peak != 5 || len(h.Partitions) != 1 {
		t.Fatalf("peak lag %d over %d partitions; want 5 over 1", peak, len(h.Partitions))
	}
	if _, err := co.LagHistory("nobody", time.Now(), 10); err == nil {
		t.Fatal("lag history of an unknown group: no error")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
