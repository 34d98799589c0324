package broker

import (
	"testing"
	"time"
)

// A second member joining shows in the rebalance history with the
// partitions that moved to it, and the history survives a restart.
func TestRebalanceHistorySurvivesRestart(t *testing.T) {
	cfg := testConfig(t)
	b := mustOpen(t, cfg)
	if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	hb := func(j JoinResult, owned Assignment) HeartbeatResult {
		t.Helper()
		r, err := b.Heartbeat("billing", HeartbeatParams{MemberID: j.MemberID, Generation: j.Generation, Owned: owned}, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := must(b.JoinGroup("billing", JoinParams{MemberID: "a", Topics: []string{"orders"}}, "127.0.0.1"))
	hb(a, a.Assigned)
	c := must(b.JoinGroup("billing", JoinParams{MemberID: "c", Topics: []string{"orders"}}, "127.0.0.1"))
	// a releases what c is to own; c then gets it.
	ra := hb(a, a.Assigned)
	ra = hb(a, ra.Assigned)
	a.Generation = ra.Generation
	c.Generation = ra.Generation
	rc := hb(c, Assignment{})
	hb(c, rc.Assigned)
	hb(a, ra.Assigned)

	h := must(b.RebalanceHistory("billing"))
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
	b.sampleHistory() // flushes to the file
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = mustOpen(t, cfg)
	defer b.Close()
	h2 := must(b.RebalanceHistory("billing"))
	found := false
	for _, r := range h2 {
		found = found || (r.StartedAt.Equal(joined.StartedAt) && len(r.Moved) == len(joined.Moved))
	}
	if !found {
		t.Fatalf("after restart %+v; want the rebalance of %v", h2, joined.StartedAt)
	}
	if _, err := b.RebalanceHistory("nobody"); err == nil {
		t.Fatal("history of an unknown group: no error")
	}
}

func TestLagHistorySamplesGroups(t *testing.T) {
	b := mustOpen(t, testConfig(t))
	defer b.Close()
	if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	must(b.JoinGroup("billing", JoinParams{MemberID: "a", Topics: []string{"orders"}}, "127.0.0.1"))
	b.sampleHistory()
	for range 5 {
		if _, err := b.Publish("orders", []Message{{Value: []byte("x"), Partition: 0}}); err != nil {
			t.Fatal(err)
		}
	}
	b.sampleHistory()
	h := must(b.LagHistory("billing", time.Now().Add(-time.Minute), 1000))
	peak := int64(-1)
	for _, v := range h.Lag {
		peak = max(peak, v)
	}
	if peak != 5 || len(h.Partitions) != 1 {
		t.Fatalf("peak lag %d over %d partitions; want 5 over 1", peak, len(h.Partitions))
	}
	if _, err := b.LagHistory("nobody", time.Now(), 10); err == nil {
		t.Fatal("lag history of an unknown group: no error")
	}
}
