package delivery

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// verify checks the representation's invariants (see partition and
// lease.go) that no exported method shows directly: every delivered,
// unsettled offset is counted once, through a lease or its own entry, and
// the counts the cap and Stats read agree with them.
func (g *Group) verify() error {
	held := map[*holder]int{}
	for tp, p := range g.parts {
		nLeased := 0
		ls := p.leases.all()
		for i, l := range ls {
			if l.state != leased || l.p != p || l.off >= l.end || l.live < 1 {
				return fmt.Errorf("%v: bad lease %+v", tp, *l)
			}
			if i > 0 && ls[i-1].end > l.off {
				return fmt.Errorf("%v: leases [%d, %d) and [%d, %d) overlap or are out of order", tp, ls[i-1].off, ls[i-1].end, l.off, l.end)
			}
			if l.idx < 0 || l.idx >= g.expiry.len() || g.expiry.es[l.idx] != l {
				return fmt.Errorf("%v: lease [%d, %d) is not in the expiry heap", tp, l.off, l.end)
			}
			if l.end > p.next {
				return fmt.Errorf("%v: lease [%d, %d) reaches past next %d", tp, l.off, l.end, p.next)
			}
			live := 0
			for off := p.unsettled(l.off); off < l.end; off = p.unsettled(off + 1) {
				if p.settled(off) {
					return fmt.Errorf("%v: unsettled(%d) is settled", tp, off)
				}
				if p.entries[off] == nil {
					live++
				}
			}
			if l.end-l.off <= 1<<16 {
				naive := 0
				for off := l.off; off < l.end; off++ {
					if p.entries[off] == nil && !p.settled(off) {
						naive++
					}
				}
				if naive != live {
					return fmt.Errorf("%v: lease [%d, %d) holds %d, counted by jumps %d", tp, l.off, l.end, naive, live)
				}
			}
			if live != l.live {
				return fmt.Errorf("%v: lease [%d, %d) counts %d live, holds %d", tp, l.off, l.end, l.live, live)
			}
			nLeased += live
			held[l.holder] += live
		}
		for _, l := range p.leases.buf[:p.leases.head] {
			if l != nil {
				return fmt.Errorf("%v: a removed lease is still referenced", tp)
			}
		}
		if nLeased != p.leased {
			return fmt.Errorf("%v: leased %d, leases hold %d", tp, p.leased, nLeased)
		}
		nInFlight := 0
		for off, e := range p.entries {
			if e.off != off || e.p != p || e.state == leased {
				return fmt.Errorf("%v: bad entry at %d: %+v", tp, off, *e)
			}
			if p.settled(off) || off >= p.next {
				return fmt.Errorf("%v: entry at %d is settled or never delivered", tp, off)
			}
			if e.state == inFlight {
				nInFlight++
				held[e.holder]++
			}
		}
		if nInFlight != p.inFlight {
			return fmt.Errorf("%v: inFlight %d, entries in flight %d", tp, p.inFlight, nInFlight)
		}
	}
	for id, h := range g.members {
		if h.inFlight != held[h] {
			return fmt.Errorf("member %s counts %d in flight, holds %d", id, h.inFlight, held[h])
		}
		delete(held, h)
	}
	for h, n := range held {
		if n > 0 {
			return fmt.Errorf("forgotten member %s holds %d", h.id, n)
		}
	}
	return nil
}

func mustVerify(t *testing.T, g *Group) {
	t.Helper()
	if err := g.verify(); err != nil {
		t.Fatal(err)
	}
}

func wantStats(t *testing.T, g *Group, tp TP, inFlight, waiting int) {
	t.Helper()
	mustVerify(t, g)
	if st := g.Stats(tp); st.InFlight != inFlight || st.Waiting != waiting {
		t.Fatalf("Stats(%v) = %+v, want %d in flight and %d waiting", tp, st, inFlight, waiting)
	}
}

// A lease partly acknowledged then expiring redelivers exactly its
// unacknowledged messages, each as its second delivery.
func TestLeasePartlyAckedExpires(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 10})
	wantOffsets(t, g.Poll(nil, t0, "a", []TP{orders0}, 5, end), 0, 1, 2, 3, 4)
	mustAck(t, g, "a", orders0, 1, 3)
	wantStats(t, g, orders0, 3, 0)
	if dead := g.Tick(at(DefaultVisibilityTimeout)); len(dead) != 0 {
		t.Fatalf("Tick dead-lettered %v", dead)
	}
	wantStats(t, g, orders0, 0, 3)
	if n := g.InFlight("a"); n != 0 {
		t.Fatalf("a holds %d after expiry", n)
	}
	wantNotInFlight(t, g.Ack("a", orders0, 3), "acknowledged")
	wantNotInFlight(t, g.Ack("a", orders0, 2), "awaiting_redelivery")
	ds := g.Poll(nil, at(DefaultVisibilityTimeout), "b", []TP{orders0}, 4, end)
	wantOffsets(t, ds, 0, 2, 4, 5)
	if got := countsOf(ds); !slices.Equal(got, []int{2, 2, 2, 1}) {
		t.Fatalf("delivery counts %v", got)
	}
	mustAck(t, g, "b", orders0, 0, 2, 4, 5)
	wantCommitted(t, g, orders0, 6)
	wantStats(t, g, orders0, 0, 0)
}

// Messages of leases of several partitions expire in the order of
// per-message state: by deadline, then offset, then partition, whichever
// lease they came in.
func TestLeaseExpiryOrder(t *testing.T) {
	g := NewGroup(Config{MaxRetries: -1})
	end := ends(map[TP]int64{orders0: 10, orders1: 10})
	g.Poll(nil, t0, "a", []TP{orders1}, 3, end)
	g.Poll(nil, t0, "a", []TP{orders0}, 3, end)
	mustAck(t, g, "a", orders0, 1)
	g.Poll(nil, at(time.Second), "a", []TP{orders0}, 1, end)
	mustVerify(t, g)
	var got []string
	for _, d := range g.Tick(at(time.Hour)) {
		got = append(got, fmt.Sprintf("%d/%d", d.TP.Partition, d.Offset))
	}
	want := []string{"0/0", "1/0", "1/1", "0/2", "1/2", "0/3"}
	if !slices.Equal(got, want) {
		t.Fatalf("dead letters %v, want %v", got, want)
	}
	wantStats(t, g, orders0, 0, 0)
}

// Extending one message of a lease moves its deadline only.
func TestLeaseExtendOne(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 10})
	g.Poll(nil, t0, "a", []TP{orders0}, 5, end)
	if err := g.Extend(t0, "a", orders0, 2, time.Minute); err != nil {
		t.Fatal(err)
	}
	wantStats(t, g, orders0, 5, 0)
	if next, _ := g.NextExpiry(); !next.Equal(at(DefaultVisibilityTimeout)) {
		t.Fatalf("NextExpiry %v", next)
	}
	g.Tick(at(DefaultVisibilityTimeout))
	wantStats(t, g, orders0, 1, 4)
	if next, _ := g.NextExpiry(); !next.Equal(at(time.Minute)) {
		t.Fatalf("NextExpiry %v after the lease expired, want the extended deadline", next)
	}
	mustAck(t, g, "a", orders0, 2)
	wantNotInFlight(t, g.Ack("a", orders0, 3), "awaiting_redelivery")
	wantStats(t, g, orders0, 0, 4)
}

// Nacking one message of a lease leaves the others in flight through it.
func TestLeaseNackOne(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 10})
	g.Poll(nil, t0, "a", []TP{orders0}, 5, end)
	o := mustNack(t, g, t0, "a", orders0, 2, NackOptions{})
	if o.Dead || !o.RetryAt.Equal(at(DefaultBackoffBase)) {
		t.Fatalf("Nack = %+v", o)
	}
	wantStats(t, g, orders0, 4, 1)
	if n := g.InFlight("a"); n != 4 {
		t.Fatalf("a holds %d, want 4", n)
	}
	mustAck(t, g, "a", orders0, 0, 1, 3, 4)
	wantCommitted(t, g, orders0, 2)
	ds := g.Poll(nil, at(DefaultBackoffBase), "a", []TP{orders0}, 2, end)
	wantOffsets(t, ds, 2, 5)
	if got := countsOf(ds); !slices.Equal(got, []int{2, 1}) {
		t.Fatalf("delivery counts %v", got)
	}
	mustVerify(t, g)
}

// A handoff of a partition with a partly acknowledged lease releases its
// unacknowledged messages only, and the next owner gets them first.
func TestLeaseHandoffPartlyAcked(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 10, orders1: 10})
	g.Poll(nil, t0, "a", []TP{orders0, orders1}, 12, end)
	mustAck(t, g, "a", orders0, 0, 2, 4)
	if n := g.Release("a", orders0); n != 3 {
		t.Fatalf("Release = %d, want 3", n)
	}
	wantStats(t, g, orders0, 0, 3)
	wantStats(t, g, orders1, 6, 0)
	if n := g.InFlight("a"); n != 6 {
		t.Fatalf("a holds %d, want the 6 of orders1", n)
	}
	wantNotInFlight(t, g.Ack("a", orders0, 3), "awaiting_redelivery")
	ds := g.Poll(nil, t0, "b", []TP{orders0}, 4, end)
	wantOffsets(t, ds, 1, 3, 5, 6)
	if got := countsOf(ds); !slices.Equal(got, []int{2, 2, 2, 1}) {
		t.Fatalf("delivery counts %v", got)
	}
	wantNotInFlight(t, g.Ack("a", orders0, 3), "other_member")
	if n := g.ReleaseMember("a"); n != 6 {
		t.Fatalf("ReleaseMember = %d, want 6", n)
	}
	wantStats(t, g, orders1, 0, 6)
}

// The cap counts messages, whatever leases they came in; acking inside a
// lease makes room for exactly one more.
func TestLeaseCapAcrossLeases(t *testing.T) {
	g := NewGroup(Config{MaxInFlightPerMember: 5})
	end := ends(map[TP]int64{orders0: 20, orders1: 20})
	owned := []TP{orders0, orders1}
	if ds := g.Poll(nil, t0, "a", owned, 2, end); len(ds) != 2 {
		t.Fatalf("first poll %v", ds)
	}
	if ds := g.Poll(nil, t0, "a", owned, 2, end); len(ds) != 2 {
		t.Fatalf("second poll %v", ds)
	}
	if ds := g.Poll(nil, t0, "a", owned, 10, end); len(ds) != 1 {
		t.Fatalf("poll at 4 of 5 got %v", ds)
	}
	if ds := g.Poll(nil, t0, "a", owned, 10, end); len(ds) != 0 {
		t.Fatalf("poll at the cap got %v", ds)
	}
	mustAck(t, g, "a", orders1, 1) // the middle of a lease
	mustVerify(t, g)
	if ds := g.Poll(nil, t0, "a", owned, 10, end); len(ds) != 1 {
		t.Fatalf("poll after one ack got %v", ds)
	}
	if n := g.InFlight("a"); n != 5 {
		t.Fatalf("a holds %d, want 5", n)
	}
	mustVerify(t, g)
}

// Commit, Restore and Forget end the leases they reach, counts included.
func TestLeaseCommitRestoreForget(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 20, orders1: 20})
	g.Poll(nil, t0, "a", []TP{orders0}, 10, end)
	mustAck(t, g, "a", orders0, 5)
	g.Commit(orders0, 3)
	wantStats(t, g, orders0, 6, 0)
	wantNotInFlight(t, g.Ack("a", orders0, 2), "acknowledged")
	mustAck(t, g, "a", orders0, 3)
	g.Restore(orders0, 4, nil)
	wantStats(t, g, orders0, 0, 0)
	g.Poll(nil, t0, "a", []TP{orders1}, 3, end)
	g.Forget(orders1)
	mustVerify(t, g)
	if n := g.InFlight("a"); n != 0 {
		t.Fatalf("a holds %d after Restore and Forget", n)
	}
	ds := g.Poll(nil, t0, "a", []TP{orders0}, 2, end)
	wantOffsets(t, ds, 4, 5)
	if got := countsOf(ds); !slices.Equal(got, []int{1, 1}) {
		t.Fatalf("delivery counts after Restore %v", got)
	}
}

// A leaseList keeping L leases, the oldest removed before each push, keeps
// its order and at most 4L slots, however long it runs.
func TestLeaseListReusesRoom(t *testing.T) {
	for _, keep := range []int{1, 2, 3, 10, 100} {
		var q leaseList
		var want []*entry
		for i := range 50 * keep {
			if len(want) == keep {
				q.remove(0)
				want = want[1:]
			}
			if i%7 == 3 && len(want) > 1 {
				q.remove(1)
				want = slices.Delete(want, 1, 2)
			}
			l := &entry{off: int64(i)}
			q.push(l)
			want = append(want, l)
			if !slices.Equal(q.all(), want) {
				t.Fatalf("keep %d, after %d pushes: leases differ", keep, i+1)
			}
			if cap(q.buf) > 4*keep+4 {
				t.Fatalf("keep %d: %d slots", keep, cap(q.buf))
			}
		}
	}
}

// A lease over a long settled run (acked ranges restored from a snapshot)
// costs its messages, not its span, when it expires, is released or is
// cut by a commit.
func TestLeaseSpansSettledRun(t *testing.T) {
	const far = int64(1) << 50
	end := ends(map[TP]int64{orders0: far + 10})
	for _, finish := range []func(g *Group){
		func(g *Group) { g.Tick(at(time.Hour)) },
		func(g *Group) { g.Release("a", orders0) },
		func(g *Group) { g.Commit(orders0, far+2) },
		func(g *Group) { g.Forget(orders0) },
	} {
		g := NewGroup(Config{})
		g.Restore(orders0, 0, []Range{{2, far}})
		wantOffsets(t, g.Poll(nil, t0, "a", []TP{orders0}, 4, end), 0, 1, far, far+1)
		mustAck(t, g, "a", orders0, 1)
		finish(g)
		mustVerify(t, g)
		if n := g.InFlight("a"); n != 0 {
			t.Fatalf("a holds %d", n)
		}
	}
}

// An ack range over whole leases settles them in one step and ends them;
// one over a lease with a nacked message and a partly acked stretch settles
// exactly what the member holds and refuses the rest, offset by offset.
func TestAckRangeOverLeases(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 100})
	g.Poll(nil, t0, "a", []TP{orders0}, 10, end)
	g.Poll(nil, t0, "a", []TP{orders0}, 10, end)
	g.Poll(nil, t0, "b", []TP{orders0}, 5, end) // 20..24, b's
	if next, err := g.AckRange("a", orders0, 0, 20); next != 20 || err != nil {
		t.Fatalf("AckRange of a's two leases = %d, %v; want 20, nil", next, err)
	}
	wantCommitted(t, g, orders0, 20)
	if n := len(g.lookup(orders0).leases.all()); n != 1 {
		t.Fatalf("%d leases after acking two of three, want 1", n)
	}
	if next, err := g.AckRange("a", orders0, 20, 25); next != 20 {
		t.Fatalf("AckRange by a of b's lease = %d, %v; want 20 refused", next, err)
	} else {
		wantNotInFlight(t, err, "other_member")
	}

	g.Poll(nil, t0, "a", []TP{orders0}, 10, end) // 25..34
	mustNack(t, g, t0, "a", orders0, 27, NackOptions{Delay: time.Hour})
	mustAck(t, g, "a", orders0, 30, 31)
	var refused []int64
	for off := int64(25); off < 36; {
		next, err := g.AckRange("a", orders0, off, 36)
		if err == nil {
			break
		}
		refused = append(refused, next)
		off = next + 1
	}
	if want := []int64{27, 30, 31, 35}; !slices.Equal(refused, want) {
		t.Fatalf("refused %v, want %v", refused, want)
	}
	if got := g.InFlight("a"); got != 0 {
		t.Fatalf("a holds %d after acking its range, want 0", got)
	}
	if err := g.verify(); err != nil {
		t.Fatal(err)
	}
}

// addRange merges with the ranges it touches on either side; from finds
// the first offset of the set at or after an offset.
func TestRangeSetAddRange(t *testing.T) {
	var s rangeSet
	s.addRange(10, 20)
	s.addRange(30, 40)
	s.addRange(0, 5)
	s.addRange(20, 25) // extends [10, 20)
	s.addRange(27, 30) // extends [30, 40) down
	s.addRange(25, 27) // joins them
	if want := []Range{{0, 5}, {10, 40}}; !slices.Equal(s.rs, want) {
		t.Fatalf("ranges %v, want %v", s.rs, want)
	}
	for _, c := range []struct{ off, want int64 }{{0, 0}, {4, 4}, {5, 10}, {39, 39}, {40, math.MaxInt64}} {
		if got := s.from(c.off); got != c.want {
			t.Errorf("from(%d) = %d, want %d", c.off, got, c.want)
		}
	}
}
