package delivery

import (
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

func TestAckAdvancesCommittedOverPrefix(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 6})
	g.Poll(nil, t0, "a", []TP{orders0}, 6, end)
	steps := []struct {
		ack       int64
		committed int64
		acked     int64 // settled above committed
	}{
		{2, 0, 1},
		{1, 0, 2},
		{4, 0, 3},
		{0, 3, 1},
		{5, 3, 2},
		{3, 6, 0},
	}
	for _, s := range steps {
		mustAck(t, g, "a", orders0, s.ack)
		st := g.Stats(orders0)
		if st.Committed != s.committed || st.Acked != s.acked {
			t.Fatalf("after ack %d: committed %d acked %d, want %d and %d", s.ack, st.Committed, st.Acked, s.committed, s.acked)
		}
	}
	if st := g.Stats(orders0); st.InFlight != 0 || g.InFlight("a") != 0 {
		t.Fatalf("in flight after acking everything: %+v, member %d", st, g.InFlight("a"))
	}
}

// TestBadInput checks that every ack, nack or extend of a message the member
// does not hold is a coded error that changes nothing.
func TestBadInput(t *testing.T) {
	type op func(g *Group) error
	ack := func(member string, tp TP, off int64) op {
		return func(g *Group) error { return g.Ack(member, tp, off) }
	}
	nack := func(member string, off int64) op {
		return func(g *Group) error {
			_, err := g.Nack(at(time.Second), member, orders0, off, NackOptions{})
			return err
		}
	}
	extend := func(member string, off int64) op {
		return func(g *Group) error { return g.Extend(at(time.Second), member, orders0, off, time.Minute) }
	}
	// Every case starts from: a holds 0..3 of orders0 (hwm 10), 0 acked.
	tests := []struct {
		name  string
		setup func(t *testing.T, g *Group)
		op    op
		state string
	}{
		{"unknown partition", nil, ack("a", orders1, 0), "not_delivered"},
		{"never delivered", nil, ack("a", orders0, 7), "not_delivered"},
		{"beyond the log", nil, ack("a", orders0, 1000), "not_delivered"},
		{"double ack", nil, ack("a", orders0, 0), "acknowledged"},
		{"double ack above committed", func(t *testing.T, g *Group) { mustAck(t, g, "a", orders0, 2) }, ack("a", orders0, 2), "acknowledged"},
		{"foreign member's message", nil, ack("b", orders0, 1), "other_member"},
		{"unknown member", nil, ack("", orders0, 1), "other_member"},
		{"nack after handoff", func(t *testing.T, g *Group) { g.Release("a", orders0) }, nack("a", 1), "awaiting_redelivery"},
		{"ack after handoff", func(t *testing.T, g *Group) { g.Release("a", orders0) }, ack("a", orders0, 1), "awaiting_redelivery"},
		{"ack after nack", func(t *testing.T, g *Group) { mustNack(t, g, t0, "a", orders0, 1, NackOptions{}) }, ack("a", orders0, 1), "awaiting_redelivery"},
		{"double nack", func(t *testing.T, g *Group) { mustNack(t, g, t0, "a", orders0, 1, NackOptions{}) }, nack("a", 1), "awaiting_redelivery"},
		{"ack after expiry", func(t *testing.T, g *Group) { g.Tick(at(time.Hour)) }, ack("a", orders0, 1), "awaiting_redelivery"},
		{"extend by another member", nil, extend("b", 1), "other_member"},
		{"extend after ack", nil, extend("a", 0), "acknowledged"},
		{"ack of a pending dead letter", func(t *testing.T, g *Group) { mustNack(t, g, t0, "a", orders0, 1, NackOptions{Reject: true}) }, ack("a", orders0, 1), "dead_lettering"},
		{"dead-lettered while in flight", nil, func(g *Group) error { return g.DeadLettered(orders0, 1) }, ""},
		{"dead-lettered twice", func(t *testing.T, g *Group) {
			mustNack(t, g, t0, "a", orders0, 1, NackOptions{Reject: true})
			if err := g.DeadLettered(orders0, 1); err != nil {
				t.Fatal(err)
			}
		}, func(g *Group) error { return g.DeadLettered(orders0, 1) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGroup(Config{})
			g.Poll(nil, t0, "a", []TP{orders0}, 4, ends(map[TP]int64{orders0: 10}))
			mustAck(t, g, "a", orders0, 0)
			if tt.setup != nil {
				tt.setup(t, g)
			}
			before, inFlight := g.Stats(orders0), g.InFlight("a")
			deadline, _ := g.NextDeadline()
			wantNotInFlight(t, tt.op(g), tt.state)
			after, _ := g.NextDeadline()
			if got := g.Stats(orders0); got != before || g.InFlight("a") != inFlight || !after.Equal(deadline) {
				t.Fatalf("a failed op changed state: %+v → %+v, in flight %d → %d", before, got, inFlight, g.InFlight("a"))
			}
		})
	}
}

func TestDoubleAckIsSettled(t *testing.T) {
	g := NewGroup(Config{})
	g.Poll(nil, t0, "a", []TP{orders0}, 2, ends(map[TP]int64{orders0: 2}))
	mustAck(t, g, "a", orders0, 1)
	if !g.Settled(orders0, 1) || g.Settled(orders0, 0) || g.Settled(orders1, 0) {
		t.Fatal("Settled disagrees with the acks")
	}
	if err := g.Ack("a", orders0, 1); !errors.Is(err, api.ErrNotInFlight) {
		t.Fatalf("double ack: %v", err)
	}
	mustAck(t, g, "a", orders0, 0)
	wantCommitted(t, g, orders0, 2)
}

func TestNackBackoffThenDeadLetter(t *testing.T) {
	g := NewGroup(Config{}) // 3 retries, 100ms ×2
	end := ends(map[TP]int64{orders0: 1})
	owned := []TP{orders0}
	now := t0
	wantBackoff := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	for i, backoff := range wantBackoff {
		d := g.Poll(nil, now, "a", owned, 10, end)
		if len(d) != 1 || d[0].DeliveryCount != i+1 {
			t.Fatalf("delivery %d: got %+v", i+1, d)
		}
		o := mustNack(t, g, now, "a", orders0, 0, NackOptions{Reason: "db down"})
		if o.Dead || !o.RetryAt.Equal(now.Add(backoff)) {
			t.Fatalf("nack of delivery %d: %+v, want retry at +%v", i+1, o, backoff)
		}
		wantOffsets(t, g.Poll(nil, o.RetryAt.Add(-1), "a", owned, 10, end))
		now = o.RetryAt
	}
	d := g.Poll(nil, now, "a", owned, 10, end)
	if len(d) != 1 || d[0].DeliveryCount != 4 {
		t.Fatalf("last delivery: %+v", d)
	}
	o := mustNack(t, g, now, "a", orders0, 0, NackOptions{Reason: "still down"})
	want := DeadLetter{TP: orders0, Offset: 0, DeliveryCount: 4, Reason: ReasonMaxRetries, LastError: "still down"}
	if !o.Dead || o.Letter != want {
		t.Fatalf("nack of delivery 4: %+v, want dead %+v", o, want)
	}
	wantOffsets(t, g.Poll(nil, now.Add(time.Hour), "a", owned, 10, end))
	if got := g.Dead(); !slices.Equal(got, []DeadLetter{want}) {
		t.Fatalf("Dead() = %+v", got)
	}
	wantCommitted(t, g, orders0, 0) // not before the DLQ write is confirmed
	if err := g.DeadLettered(orders0, 0); err != nil {
		t.Fatal(err)
	}
	wantCommitted(t, g, orders0, 1)
	st := g.Stats(orders0)
	if st.DeadLettered != 1 || st.Redelivered != 3 || st.DeadPending != 0 || len(g.Dead()) != 0 {
		t.Fatalf("stats %+v", st)
	}
	// An offset reset moves the offsets; the counters, exported as
	// totals, go on (as into a state rebuilt with RestoreCounters).
	g.Restore(orders0, 0, nil)
	rebuilt := NewGroup(Config{})
	rebuilt.Restore(orders0, 0, nil)
	rebuilt.RestoreCounters(orders0, g.Stats(orders0))
	for _, st := range []Stats{g.Stats(orders0), rebuilt.Stats(orders0)} {
		if st.DeadLettered != 1 || st.Redelivered != 3 || st.Committed != 0 {
			t.Fatalf("stats after a reset %+v, want the counters kept", st)
		}
	}
}

func TestNackOptions(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		opt  NackOptions
		want Outcome
	}{
		{"default backoff", Config{}, NackOptions{}, Outcome{RetryAt: at(100 * time.Millisecond)}},
		{"given delay", Config{}, NackOptions{Delay: 5 * time.Second}, Outcome{RetryAt: at(5 * time.Second)}},
		{"group backoff", Config{BackoffBase: time.Second}, NackOptions{}, Outcome{RetryAt: at(time.Second)}},
		{"reject", Config{}, NackOptions{Reject: true, Reason: "bad json"},
			Outcome{Dead: true, Letter: DeadLetter{TP: orders0, DeliveryCount: 1, Reason: ReasonRejected, LastError: "bad json"}}},
		{"reject without reason", Config{}, NackOptions{Reject: true},
			Outcome{Dead: true, Letter: DeadLetter{TP: orders0, DeliveryCount: 1, Reason: ReasonRejected, LastError: LastErrorNack}}},
		{"no retries", Config{MaxRetries: -1}, NackOptions{Reason: "x"},
			Outcome{Dead: true, Letter: DeadLetter{TP: orders0, DeliveryCount: 1, Reason: ReasonMaxRetries, LastError: "x"}}},
		{"reason cut to what a dead letter keeps", Config{}, NackOptions{Reject: true, Reason: strings.Repeat("é", api.DLQMaxReasonBytes)},
			Outcome{Dead: true, Letter: DeadLetter{TP: orders0, DeliveryCount: 1, Reason: ReasonRejected, LastError: strings.Repeat("é", api.DLQMaxReasonBytes/2)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGroup(tt.cfg)
			g.Poll(nil, t0, "a", []TP{orders0}, 1, ends(map[TP]int64{orders0: 1}))
			if got := mustNack(t, g, t0, "a", orders0, 0, tt.opt); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if g.InFlight("a") != 0 {
				t.Fatal("a nacked message still counts against the member")
			}
		})
	}
}

// TestNackReasonsDoNotPinMemory checks that a message waiting for its
// redelivery keeps only what its dead letter can carry of its nack's
// reason: one nack per message, each with a reason as large as a request
// body, must not hold messages × body bytes.
func TestNackReasonsDoNotPinMemory(t *testing.T) {
	const (
		messages = 64
		reason   = 1 << 20
	)
	g := NewGroup(Config{})
	g.Poll(nil, t0, "a", []TP{orders0}, messages, ends(map[TP]int64{orders0: messages}))
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for off := range int64(messages) {
		mustNack(t, g, t0, "a", orders0, off, NackOptions{Delay: time.Hour, Reason: strings.Repeat("x", reason)})
	}
	if grew := int64(heap()) - int64(before); grew > messages*reason/8 {
		t.Fatalf("%d nacks with %d-byte reasons grew the heap by %d bytes; want about %d", messages, reason, grew, messages*api.DLQMaxReasonBytes)
	}
	runtime.KeepAlive(g)
}

func TestVisibilityTimeout(t *testing.T) {
	g := NewGroup(Config{MaxRetries: 1})
	end := ends(map[TP]int64{orders0: 2})
	owned := []TP{orders0}
	g.Poll(nil, t0, "a", owned, 2, end)
	if dl, ok := g.NextDeadline(); !ok || !dl.Equal(at(30*time.Second)) {
		t.Fatalf("NextDeadline = %v %v, want +30s", dl, ok)
	}
	if err := g.Extend(at(10*time.Second), "a", orders0, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	if dead := g.Tick(at(30*time.Second - 1)); len(dead) != 0 || g.InFlight("a") != 2 {
		t.Fatalf("expired early: %v, in flight %d", dead, g.InFlight("a"))
	}
	if dead := g.Tick(at(30 * time.Second)); len(dead) != 0 {
		t.Fatalf("first expiry dead-lettered: %v", dead)
	}
	if g.InFlight("a") != 1 {
		t.Fatalf("InFlight(a) = %d after offset 0 expired, want 1 (offset 1 extended)", g.InFlight("a"))
	}
	if dl, _ := g.NextDeadline(); !dl.Equal(at(30 * time.Second)) {
		t.Fatalf("NextDeadline = %v, want +30s (offset 0 due)", dl)
	}
	d := g.Poll(nil, at(30*time.Second), "b", owned, 10, end)
	if len(d) != 1 || d[0].Offset != 0 || d[0].DeliveryCount != 2 {
		t.Fatalf("redelivery after expiry: %+v", d)
	}
	if dl, _ := g.NextDeadline(); !dl.Equal(at(60 * time.Second)) {
		t.Fatalf("NextDeadline = %v, want +60s", dl)
	}
	// Delivery 2 of offset 0 expires at +60s: that failure exhausts 1 retry.
	dead := g.Tick(at(70 * time.Second))
	want := []DeadLetter{{TP: orders0, Offset: 0, DeliveryCount: 2, Reason: ReasonMaxRetries, LastError: LastErrorVisibility}}
	if !slices.Equal(dead, want) {
		t.Fatalf("Tick = %+v, want %+v", dead, want)
	}
	// Offset 1 was extended to +70s: expired in the same Tick, retried.
	d = g.Poll(nil, at(70*time.Second), "a", owned, 10, end)
	if len(d) != 1 || d[0].Offset != 1 || d[0].DeliveryCount != 2 {
		t.Fatalf("redelivery of the extended message: %+v", d)
	}
}

func TestExtendDefaultsToVisibilityTimeout(t *testing.T) {
	g := NewGroup(Config{VisibilityTimeout: 10 * time.Second})
	g.Poll(nil, t0, "a", []TP{orders0}, 1, ends(map[TP]int64{orders0: 1}))
	if err := g.Extend(at(5*time.Second), "a", orders0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if dl, _ := g.NextDeadline(); !dl.Equal(at(15 * time.Second)) {
		t.Fatalf("NextDeadline = %v, want +15s", dl)
	}
}

func TestReleaseHandsOffAtOnce(t *testing.T) {
	g := NewGroup(Config{MaxRetries: 1})
	end := ends(map[TP]int64{orders0: 8, orders1: 8})
	g.Poll(nil, t0, "a", []TP{orders0, orders1}, 10, end) // 0..4 of orders0, 0..4 of orders1
	mustAck(t, g, "a", orders0, 1)
	mustNack(t, g, t0, "a", orders0, 3, NackOptions{})       // delivery 1 failed
	g.Poll(nil, at(time.Second), "a", []TP{orders0}, 1, end) // offset 3, delivery 2
	if n := g.Release("a", orders0); n != 4 {
		t.Fatalf("Release = %d, want 4 (0, 2, 3, 4)", n)
	}
	if got := g.InFlight("a"); got != 5 {
		t.Fatalf("InFlight(a) = %d, want the 5 of orders1", got)
	}
	d := g.Poll(nil, at(time.Second), "b", []TP{orders0}, 10, end)
	wantOffsets(t, d, 0, 2, 3, 4, 5, 6, 7)
	// Every delivery counts, the handoff's included, so b can tell that 0,
	// 2, 3 and 4 were delivered before.
	if !slices.Equal(countsOf(d), []int{2, 2, 3, 2, 1, 1, 1}) {
		t.Fatalf("counts %v: a handoff is a delivery and must count", countsOf(d))
	}
	// The handoff did not count as a failure: offset 0 and offset 3 still
	// have their retry.
	if o := mustNack(t, g, at(time.Second), "b", orders0, 0, NackOptions{}); o.Dead {
		t.Fatalf("offset 0 dead after one failure: %+v", o)
	}
	if o := mustNack(t, g, at(time.Second), "b", orders0, 3, NackOptions{}); !o.Dead || o.Letter.DeliveryCount != 3 {
		t.Fatalf("offset 3 after its second failure: %+v", o)
	}
	if n := g.ReleaseMember("a"); n != 5 || g.InFlight("a") != 0 {
		t.Fatalf("ReleaseMember = %d, in flight %d", n, g.InFlight("a"))
	}
	wantOffsets(t, g.Poll(nil, at(time.Second), "b", []TP{orders1}, 10, end), 0, 1, 2, 3, 4, 5, 6, 7)
	if n := g.Release("a", orders2); n != 0 {
		t.Fatalf("Release of an unknown partition = %d", n)
	}
}

func TestCommitSettlesBelow(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 20})
	owned := []TP{orders0}
	g.Poll(nil, t0, "a", owned, 5, end)
	mustNack(t, g, t0, "a", orders0, 1, NackOptions{})
	mustNack(t, g, t0, "a", orders0, 2, NackOptions{Reject: true})
	mustAck(t, g, "a", orders0, 4)
	g.Commit(orders0, 3)
	wantCommitted(t, g, orders0, 3)
	if st := g.Stats(orders0); st.InFlight != 1 || st.Waiting != 0 || st.DeadPending != 0 || g.InFlight("a") != 1 {
		t.Fatalf("after commit: %+v, member %d", st, g.InFlight("a"))
	}
	wantNotInFlight(t, g.Ack("a", orders0, 0), "acknowledged")
	g.Commit(orders0, 1) // backwards: nothing
	wantCommitted(t, g, orders0, 3)
	mustAck(t, g, "a", orders0, 3)
	wantCommitted(t, g, orders0, 5)
	// Retention removed everything below 12: skip ahead of the fresh cursor.
	g.Commit(orders0, 12)
	wantOffsets(t, g.Poll(nil, t0, "a", owned, 3, end), 12, 13, 14)
	if g.Commit(orders2, 7); !g.Has(orders2) {
		t.Fatal("Commit did not create state")
	}
	wantCommitted(t, g, orders2, 7)
}

func TestSnapshotRestore(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 8})
	owned := []TP{orders0}
	g.Poll(nil, t0, "a", owned, 6, end)
	mustAck(t, g, "a", orders0, 0, 1, 3, 5)
	committed, acked, ok := g.Snapshot(orders0)
	if !ok || committed != 2 || !slices.Equal(acked, []Range{{3, 4}, {5, 6}}) {
		t.Fatalf("Snapshot = %d %v %v", committed, acked, ok)
	}
	if _, _, ok := g.Snapshot(orders1); ok {
		t.Fatal("Snapshot of an unknown partition")
	}
	r := NewGroup(Config{})
	r.Restore(orders0, committed, acked)
	d := r.Poll(nil, t0, "b", owned, 10, end)
	wantOffsets(t, d, 2, 4, 6, 7)
	mustAck(t, r, "b", orders0, 2, 4, 6, 7)
	wantCommitted(t, r, orders0, 8)
}

func TestRestoreReplacesState(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 10})
	g.Poll(nil, t0, "a", []TP{orders0}, 5, end)
	// Acked ranges overlapping the committed offset are folded into it.
	g.Restore(orders0, 2, []Range{{6, 7}, {1, 4}, {9, 9}})
	if g.InFlight("a") != 0 || g.Stats(orders0).InFlight != 0 {
		t.Fatal("Restore kept what was in flight")
	}
	if _, ok := g.NextDeadline(); ok {
		t.Fatal("Restore kept timers")
	}
	wantCommitted(t, g, orders0, 4)
	wantOffsets(t, g.Poll(nil, t0, "a", []TP{orders0}, 10, end), 4, 5, 7, 8, 9)
}

func TestForget(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 10, orders1: 10})
	g.Poll(nil, t0, "a", []TP{orders0, orders1}, 4, end)
	g.Forget(orders0)
	if g.Has(orders0) || g.InFlight("a") != 2 || !slices.Equal(g.Partitions(), []TP{orders1}) {
		t.Fatalf("after Forget: has %v, in flight %d, partitions %v", g.Has(orders0), g.InFlight("a"), g.Partitions())
	}
	if st := g.Stats(orders0); st != (Stats{}) {
		t.Fatalf("Stats of a forgotten partition: %+v", st)
	}
	g.Forget(orders2) // unknown: nothing
}

// TestRestoredAckedNotRedelivered: after a restore with an acked offset
// above a gap, acking the gap must not rewind the fresh cursor onto it.
func TestRestoredAckedNotRedelivered(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 4})
	g.Restore(orders0, 0, []Range{{1, 3}})
	wantOffsets(t, g.Poll(nil, t0, "a", []TP{orders0}, 1, end), 0)
	mustAck(t, g, "a", orders0, 0)
	wantCommitted(t, g, orders0, 3)
	wantOffsets(t, g.Poll(nil, t0, "a", []TP{orders0}, 10, end), 3)
}
