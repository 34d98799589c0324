package group

import (
	"fmt"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/assign"
)

// fleet is a set of faithful fake clients of one group, for benchmarks.
type fleet struct {
	g      *Group
	now    time.Time
	counts map[string]int32
	held   map[string]api.Assignment // what each client was last told
	gen    map[string]int64
}

func newFleet(tb testing.TB, strategy string, members int, partitions int32) *fleet {
	f := &fleet{
		g:      New("g", Config{DefaultAssignor: strategy, HeartbeatInterval: 3 * time.Second}),
		now:    epoch0,
		counts: map[string]int32{"t": partitions},
		held:   map[string]api.Assignment{},
		gen:    map[string]int64{},
	}
	for i := range members {
		f.join(tb, fmt.Sprintf("m%04d", i))
	}
	f.converge(tb)
	return f
}

func (f *fleet) join(tb testing.TB, id string) {
	res, err := f.g.Join(f.now, JoinParams{MemberID: id, Topics: []string{"t"}}, f.counts)
	if err != nil {
		tb.Fatal(err)
	}
	f.held[id], f.gen[id] = res.Assigned, res.Generation
}

func (f *fleet) heartbeat(tb testing.TB, id string) HeartbeatResult {
	res, err := f.g.Heartbeat(f.now, id, f.gen[id], f.held[id], 0)
	if err != nil {
		tb.Fatal(err)
	}
	f.held[id], f.gen[id] = res.Assigned, res.Generation
	return res
}

// converge runs rounds in which every member heartbeats once, until the
// group is stable, and returns how many rounds it took.
func (f *fleet) converge(tb testing.TB) int {
	rounds := 0
	for f.g.State() != StateStable {
		if rounds++; rounds > 10 {
			tb.Fatalf("not stable after 10 rounds")
		}
		for id := range f.held {
			f.heartbeat(tb, id)
		}
	}
	f.g.DrainReleased()
	return rounds
}

// BenchmarkJoinRunningGroup measures a member joining a stable group of N
// members (2 partitions each): the join and the heartbeat rounds of every
// member until the group is stable again. The member then leaves, off the
// clock, so that every iteration starts from the same group.
func BenchmarkJoinRunningGroup(b *testing.B) {
	for _, strategy := range []string{assign.CooperativeSticky, assign.Range} {
		for _, n := range []int{10, 100, 1000} {
			b.Run(fmt.Sprintf("%s/members=%d", strategy, n), func(b *testing.B) {
				f := newFleet(b, strategy, n, int32(2*n))
				b.ReportAllocs()
				b.ResetTimer()
				rounds := 0
				for range b.N {
					f.join(b, "joiner")
					rounds += f.converge(b)
					b.StopTimer()
					if err := f.g.Leave(f.now, "joiner"); err != nil {
						b.Fatal(err)
					}
					delete(f.held, "joiner")
					f.converge(b)
					b.StartTimer()
				}
				b.ReportMetric(float64(rounds)/float64(b.N), "rounds/join")
			})
		}
	}
}

// pauses is how long partitions went without a consumer while a member
// joined a running group.
type pauses struct {
	moved, unmoved int           // partitions whose target owner changed, or not
	movedTotal     time.Duration // summed over moved partitions
	unmovedTotal   time.Duration // summed over unmoved partitions
	max            time.Duration // longest pause of one partition
	settled        time.Duration // from the join to stable
}

// measurePauses joins a member to a stable group of n members and p
// partitions while every member heartbeats every interval, at evenly spread
// phases, and measures on the clients' side (a partition is consumed from
// the answer that grants it to the answer that takes it away) how long each
// partition had no consumer. With prompt, a client told to revoke heartbeats
// again as soon as it released (as the Go client does); otherwise the group
// learns of the release only at its next regular heartbeat.
func measurePauses(tb testing.TB, strategy string, n int, p int32, prompt bool) pauses {
	f := newFleet(tb, strategy, n, p)
	const interval = 3 * time.Second
	before := owners(f.g.target)
	holder := map[tp]string{}
	for id, a := range f.held {
		for q := range fromAssignment(a) {
			holder[q] = id
		}
	}
	idle := map[tp]time.Time{} // partitions nobody consumes, since when
	paused := map[tp]time.Duration{}
	observe := func(id string, a api.Assignment) {
		next := fromAssignment(a)
		for q, h := range holder {
			if h == id && !next.has(q) {
				delete(holder, q)
				idle[q] = f.now
			}
		}
		for q := range next {
			if since, ok := idle[q]; ok {
				paused[q] += f.now.Sub(since)
				delete(idle, q)
			}
			holder[q] = id
		}
	}
	start := f.now
	f.join(tb, "joiner")
	observe("joiner", f.held["joiner"])
	ids := f.g.memberIDs()
	next := map[string]time.Time{}
	for i, id := range ids {
		next[id] = start.Add(time.Duration(i+1) * interval / time.Duration(len(ids)+1))
	}
	for f.g.State() != StateStable || len(idle) > 0 {
		id := ids[0]
		for _, c := range ids {
			if next[c].Before(next[id]) {
				id = c
			}
		}
		f.now = next[id]
		if f.now.Sub(start) > time.Minute {
			tb.Fatalf("%s: not settled after a minute", strategy)
		}
		res := f.heartbeat(tb, id)
		observe(id, res.Assigned)
		if prompt && res.Revoked != nil {
			continue // heartbeat again at once, having released
		}
		next[id] = next[id].Add(interval)
	}
	after := owners(f.g.target)
	var r pauses
	r.settled = f.now.Sub(start)
	for q := range after {
		d := paused[q]
		r.max = max(r.max, d)
		if before[q] == after[q] {
			r.unmoved++
			r.unmovedTotal += d
		} else {
			r.moved++
			r.movedTotal += d
		}
	}
	return r
}

// TestJoinPauses holds cooperative-sticky to its promise: when a member
// joins, partitions that do not move never pause, and (with clients that
// report a release at once) a moved partition pauses for less than a
// heartbeat interval; eager strategies pause every partition.
func TestJoinPauses(t *testing.T) {
	for _, strategy := range assign.Strategies() {
		r := measurePauses(t, strategy, 5, 24, true)
		t.Logf("%-18s moved=%d (paused %v) unmoved=%d (paused %v) max=%v settled in %v",
			strategy, r.moved, r.movedTotal, r.unmoved, r.unmovedTotal, r.max, r.settled)
		if r.moved == 0 {
			t.Errorf("%s: nothing moved to the joiner", strategy)
		}
		if assign.Eager(strategy) {
			if r.unmoved > 0 && r.unmovedTotal == 0 {
				t.Errorf("%s: eager rebalance paused no unmoved partition", strategy)
			}
			continue
		}
		if r.unmovedTotal != 0 {
			t.Errorf("%s: unmoved partitions paused %v", strategy, r.unmovedTotal)
		}
		if r.max >= 3*time.Second {
			t.Errorf("%s: a moved partition paused %v, a heartbeat interval or more", strategy, r.max)
		}
	}
}

// BenchmarkJoinPauses reports the pauses of TestJoinPauses as metrics
// (simulated seconds; heartbeat interval 3 s) for a few group shapes, with
// clients that report releases at once (prompt) or at their next heartbeat.
func BenchmarkJoinPauses(b *testing.B) {
	for _, strategy := range assign.Strategies() {
		for _, shape := range []struct {
			n      int
			p      int32
			prompt bool
		}{{2, 6, true}, {5, 24, true}, {20, 100, true}, {5, 24, false}} {
			name := fmt.Sprintf("%s/members=%d/partitions=%d/prompt=%v", strategy, shape.n, shape.p, shape.prompt)
			b.Run(name, func(b *testing.B) {
				var r pauses
				for range b.N {
					r = measurePauses(b, strategy, shape.n, shape.p, shape.prompt)
				}
				b.ReportMetric(r.movedTotal.Seconds()/float64(max(r.moved, 1)), "paused-s/moved")
				b.ReportMetric(r.unmovedTotal.Seconds()/float64(max(r.unmoved, 1)), "paused-s/unmoved")
				b.ReportMetric(r.max.Seconds(), "max-paused-s")
				b.ReportMetric(r.settled.Seconds(), "settle-s")
			})
		}
	}
}
