package conformance

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// Membership: assignment layouts, rebalances, static members, session
// timeouts and the fencing of stale or unknown members.
func membershipScenarios() []scenario {
	return []scenario{
		{"RangeLayoutsOfTheSeed", Assignors | SessionTimeouts | RebalanceStats, rangeSeedLayouts},
		{"MoreConsumersThanPartitions", 0, moreConsumersThanPartitions},
		{"CooperativeJoinNeverRevokesUnmoved", 0, cooperativeJoin},
		{"EagerJoinRevokesAll", Assignors, eagerJoin},
		{"LongPollAnswersRebalanceAtOnce", Deliveries, pollAnswersRebalance},
		{"StaticMemberRestartKeepsAssignment", 0, staticMemberRestart},
		{"StaticMemberGonePastSessionTimeout", SessionTimeouts, staticMemberExpires},
		{"FencingErrors", 0, fencingErrors},
		{"LateHeartbeatReleasesNothing", Deliveries, lateHeartbeat},
	}
}

func rangeJoin(id string) broker.JoinParams {
	return broker.JoinParams{MemberID: id, Topics: []string{"orders"}, Assignor: api.AssignorRange, SessionTimeout: 10 * time.Second}
}

// The seed's "Partition Assignment" tables with the range assignor:
// 2 consumers × 6 partitions, then C joins, then B crashes (stops
// heartbeating) and the broker moves its partitions at its session timeout,
// not before.
func rangeSeedLayouts(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 6)
	a := join(t, tg, "g", rangeJoin("consumer-a"))
	b := join(t, tg, "g", rangeJoin("consumer-b"))
	converge(t, a, b)
	if got, want := layout(a, b), "consumer-a:[0 1 2] consumer-b:[3 4 5] "; got != want {
		t.Fatalf("2 consumers: %s, want %s", got, want)
	}
	c := join(t, tg, "g", rangeJoin("consumer-c"))
	converge(t, a, b, c)
	if got, want := layout(a, b, c), "consumer-a:[0 1] consumer-b:[2 3] consumer-c:[4 5] "; got != want {
		t.Fatalf("C joins: %s, want %s", got, want)
	}
	b.heartbeat()
	crashed := time.Now() // b's last heartbeat
	for time.Since(crashed) < 10*time.Second {
		time.Sleep(time.Second)
		synctest.Wait()
		a.heartbeat()
		c.heartbeat()
		if n := len(describe(t, tg, "g").Members); n != 3 && time.Since(crashed) < 10*time.Second {
			t.Fatalf("%d members %v after B stopped, before its 10 s session timeout", n, time.Since(crashed))
		}
	}
	converge(t, a, c)
	if got, want := layout(a, c), "consumer-a:[0 1 2] consumer-c:[3 4 5] "; got != want {
		t.Fatalf("B crashes: %s, want %s", got, want)
	}
	d := describe(t, tg, "g")
	if len(d.Members) != 2 || d.Rebalances.ByReason["session_timeout"] != 1 {
		t.Fatalf("after B's timeout: %d members, rebalances %+v; want 2 and one session_timeout", len(d.Members), d.Rebalances)
	}
	_, err := tg.Heartbeat("g", broker.HeartbeatParams{MemberID: b.id, Generation: b.gen, Owned: b.owned})
	wantCode(t, "B's heartbeat", err, api.ErrFencedMember)
}

// The seed's "Maximum Consumers": 8 consumers, 6 partitions; 2 idle, and
// shown as idle.
func moreConsumersThanPartitions(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 6)
	var ms []*member
	for i := range 8 {
		ms = append(ms, join(t, tg, "g", broker.JoinParams{MemberID: "consumer-" + string(rune('1'+i)), Topics: []string{"orders"}}))
	}
	converge(t, ms...)
	owners := map[int32]string{}
	idle := 0
	for _, m := range ms {
		ps := m.owned["orders"]
		if len(ps) > 1 {
			t.Fatalf("%s owns %v", m.id, ps)
		}
		if len(ps) == 0 {
			idle++
		}
		for _, p := range ps {
			if o, dup := owners[p]; dup {
				t.Fatalf("partition %d owned by %s and %s", p, o, m.id)
			}
			owners[p] = m.id
		}
	}
	if idle != 2 || len(owners) != 6 {
		t.Fatalf("idle %d, owned %d", idle, len(owners))
	}
	d := describe(t, tg, "g")
	shownIdle := 0
	for _, m := range d.Members {
		if m.Idle {
			shownIdle++
			if len(nonEmpty(m.Assigned)) != 0 {
				t.Fatalf("idle member %s shows %v", m.MemberID, m.Assigned)
			}
		}
	}
	if shownIdle != 2 || len(d.Members) != 8 {
		t.Fatalf("describe shows %d members, %d idle", len(d.Members), shownIdle)
	}
}

// Cooperative-sticky (the default): when B joins, A keeps the partitions
// that do not move in every answer it gets, and B gets a moving partition
// only after A released it.
func cooperativeJoin(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 6)
	a := join(t, tg, "g", broker.JoinParams{MemberID: "a", Topics: []string{"orders"}})
	if len(a.owned["orders"]) != 6 {
		t.Fatalf("a owns %v", a.owned)
	}
	b := join(t, tg, "g", broker.JoinParams{MemberID: "b", Topics: []string{"orders"}})
	if len(b.owned["orders"]) != 0 {
		t.Fatalf("b got %v before a released anything", b.owned)
	}
	if b.heartbeat(); len(b.owned["orders"]) != 0 {
		t.Fatalf("b got %v before a released anything", b.owned)
	}
	res := a.heartbeat()
	if len(res.Revoked["orders"]) != 3 || len(res.Assigned["orders"]) != 3 {
		t.Fatalf("a's heartbeat: %+v", res)
	}
	kept := res.Assigned["orders"]
	converge(t, a, b)
	for _, h := range a.history {
		for _, p := range kept {
			if !slices.Contains(h["orders"], p) {
				t.Fatalf("a lost unmoved partition %d in %v (history %v)", p, h, a.history)
			}
		}
	}
	if !slices.Equal(a.owned["orders"], kept) || len(b.owned["orders"]) != 3 {
		t.Fatalf("final %s", layout(a, b))
	}
	d := describe(t, tg, "g")
	if d.Assignor != api.AssignorCooperativeSticky {
		t.Fatalf("assignor %q", d.Assignor)
	}
	if lacks(tg, RebalanceStats) {
		return
	}
	if len(d.Rebalances.Recent) == 0 {
		t.Fatalf("rebalances %+v", d.Rebalances)
	}
	// The last rebalance shows what moved: 3 partitions from a to b.
	moved := 0
	for _, mv := range d.Rebalances.Recent[0].Moved {
		if mv.From == "a" && mv.To == "b" {
			moved++
		}
	}
	if moved != 3 {
		t.Fatalf("last rebalance moved %+v, want 3 partitions from a to b", d.Rebalances.Recent[0].Moved)
	}
}

// Eager strategies: when B joins, A gives up everything first; only then
// is the new plan handed out.
func eagerJoin(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 6)
	a := join(t, tg, "g", rangeJoin("a"))
	b := join(t, tg, "g", rangeJoin("b"))
	res := a.heartbeat()
	if len(res.Assigned["orders"]) != 0 || len(res.Revoked["orders"]) != 6 {
		t.Fatalf("a's heartbeat after b joined: %+v", res)
	}
	if b.heartbeat(); len(b.owned["orders"]) != 0 {
		t.Fatalf("b got %v before a released", b.owned)
	}
	converge(t, a, b)
	if got, want := layout(a, b), "a:[0 1 2] b:[3 4 5] "; got != want {
		t.Fatalf("%s, want %s", got, want)
	}
}

// A long poll answers at once, empty, when a join gives its member
// partitions to release, long before its wait ends; the member then learns
// the revocation from a heartbeat.
func pollAnswersRebalance(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 2)
	a := join(t, tg, "g", broker.JoinParams{MemberID: "a", Topics: []string{"orders"}})
	done := make(chan []Message, 1)
	go func() {
		got, err := tg.Poll(context.Background(), "g", broker.PollParams{MemberID: a.id, Generation: a.gen, Wait: 20 * time.Second})
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	synctest.Wait() // a's poll waits
	start := time.Now()
	join(t, tg, "g", broker.JoinParams{MemberID: "b", Topics: []string{"orders"}})
	got := <-done
	if len(got) != 0 || time.Since(start) != 0 {
		t.Fatalf("poll answered %v after %v, want nothing at the join", refs(got), time.Since(start))
	}
	if res := a.heartbeat(); len(res.Revoked["orders"]) != 1 {
		t.Fatalf("a's heartbeat after the join: %+v, want one partition revoked", res)
	}
}

// A heartbeat that reaches the broker after later ones (a request the
// network held while its retry was answered) lists less than the member
// was granted since. With its seq below the highest seen it releases
// nothing: the messages the member has in flight stay its own, their acks
// count, and nothing is delivered again.
func lateHeartbeat(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 2)
	a := join(t, tg, "g", broker.JoinParams{MemberID: "a", Topics: []string{"orders"}})
	b := join(t, tg, "g", broker.JoinParams{MemberID: "b", Topics: []string{"orders"}})
	converge(t, a, b)
	b.leave()
	hb := func(seq int64, owned broker.Assignment) broker.HeartbeatResult {
		t.Helper()
		res, err := tg.Heartbeat("g", broker.HeartbeatParams{MemberID: a.id, Generation: a.gen, Owned: owned, Seq: seq})
		if err != nil {
			t.Fatalf("heartbeat seq %d: %v", seq, err)
		}
		return res
	}
	before := a.owned
	both := hb(1, before).Assigned // the retry of seq 1, answered first
	if len(both["orders"]) != 2 {
		t.Fatalf("a alone was assigned %v", both)
	}
	a.gen, a.owned = hb(2, both).Generation, both
	publishN(t, tg, "orders", 0, 3)
	publishN(t, tg, "orders", 1, 3)
	held := a.poll(10, 0)
	if len(held) != 6 {
		t.Fatalf("a polled %v, want all 6", refs(held))
	}

	if res := hb(1, before); !sameAssignment(res.Assigned, both) || res.Revoked != nil { // seq 1's original, late
		t.Fatalf("the late heartbeat was answered %+v, want %v", res, both)
	}
	if again := a.poll(10, 0); len(again) != 0 {
		t.Fatalf("after the late heartbeat a got %v again", refs(again))
	}
	a.ack(held...)
	if d := describe(t, tg, "g"); len(d.Members) != 1 || !sameAssignment(d.Members[0].Assigned, both) {
		t.Fatalf("after the late heartbeat: %+v", d.Members)
	}
}

// staticJoin joins as a static member with a 5 s session timeout, or the
// broker's where tg lacks SessionTimeouts (a restart 2 s later is within
// either).
func staticJoin(tg Target, instance string) broker.JoinParams {
	p := broker.JoinParams{InstanceID: instance, Topics: []string{"orders"}}
	if !lacks(tg, SessionTimeouts) {
		p.SessionTimeout = 5 * time.Second
	}
	return p
}

// A static member that restarts within its session timeout gets its
// partitions back with no rebalance, and its old member ID is fenced.
func staticMemberRestart(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 6)
	a := join(t, tg, "g", staticJoin(tg, "host-a"))
	b := join(t, tg, "g", staticJoin(tg, "host-b"))
	converge(t, a, b)
	before := describe(t, tg, "g")
	had := a.owned

	a.leave() // the process stops
	time.Sleep(2 * time.Second)
	b.heartbeat()
	a2 := join(t, tg, "g", staticJoin(tg, "host-a"))
	if !sameAssignment(a2.owned, had) {
		t.Fatalf("restarted static member got %v, had %v", a2.owned, had)
	}
	b.heartbeat()
	after := describe(t, tg, "g")
	if after.Generation != before.Generation || (!lacks(tg, RebalanceStats) && after.Rebalances.Count != before.Rebalances.Count) {
		t.Fatalf("restart rebalanced: generation %d → %d, rebalances %d → %d",
			before.Generation, after.Generation, before.Rebalances.Count, after.Rebalances.Count)
	}
	if a.id != a2.id {
		_, err := tg.Heartbeat("g", broker.HeartbeatParams{MemberID: a.id, Generation: a.gen})
		wantCode(t, "heartbeat of the replaced member ID", err, api.ErrFencedMember)
	}
}

// A static member that does not come back within its session timeout is
// gone: its partitions move to the others.
func staticMemberExpires(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 6)
	a := join(t, tg, "g", staticJoin(tg, "host-a"))
	b := join(t, tg, "g", staticJoin(tg, "host-b"))
	converge(t, a, b)
	a.leave()
	for range 6 {
		time.Sleep(time.Second)
		b.heartbeat()
	}
	converge(t, b)
	if got := b.owned["orders"]; len(got) != 6 {
		t.Fatalf("b owns %v after a's session timeout, want all 6", got)
	}
	a2 := join(t, tg, "g", staticJoin(tg, "host-a"))
	converge(t, a2, b)
	if len(a2.owned["orders"]) != 3 || len(b.owned["orders"]) != 3 {
		t.Fatalf("after a came back late: %s", layout(a2, b))
	}
}

// Stale and unknown members get distinct codes on every group operation,
// with the documented retriability.
func fencingErrors(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 2)
	a := join(t, tg, "g", broker.JoinParams{MemberID: "a", Topics: []string{"orders"}})
	b := join(t, tg, "g", broker.JoinParams{MemberID: "b", Topics: []string{"orders"}})
	converge(t, a, b)
	stale := a.gen - 2
	p := a.owned["orders"][0]
	ref := []broker.MessageRef{{Topic: "orders", Partition: p, Offset: 0}}
	commit := broker.Offsets{"orders": {p: 0}}
	for _, c := range []struct {
		name  string
		needs Feature
		call  func() error
		want  *api.Error
	}{
		{"heartbeat unknown", 0, func() error {
			return second(tg.Heartbeat("g", broker.HeartbeatParams{MemberID: "ghost", Generation: 1}))
		}, api.ErrUnknownMember},
		// A heartbeat with an old generation learns the current one; one from
		// the future or below 0 is refused without fencing the member. (Below
		// 0 is -3: KIP-848 heartbeats at epoch -1 and -2 are leaves.)
		{"heartbeat future", 0, func() error {
			return second(tg.Heartbeat("g", broker.HeartbeatParams{MemberID: "a", Generation: a.gen + 5}))
		}, api.ErrStaleGeneration},
		{"heartbeat negative", 0, func() error { return second(tg.Heartbeat("g", broker.HeartbeatParams{MemberID: "a", Generation: -3})) }, api.ErrStaleGeneration},
		{"poll unknown", Deliveries, func() error {
			return second(tg.Poll(context.Background(), "g", broker.PollParams{MemberID: "ghost", Generation: a.gen}))
		}, api.ErrUnknownMember},
		{"poll stale", Deliveries, func() error {
			return second(tg.Poll(context.Background(), "g", broker.PollParams{MemberID: "a", Generation: stale}))
		}, api.ErrStaleGeneration},
		{"ack unknown", Deliveries, func() error {
			return second(tg.Ack("g", broker.Settle{MemberID: "ghost", Generation: a.gen, Messages: ref}))
		}, api.ErrUnknownMember},
		{"ack not owner", Deliveries, func() error {
			return second(tg.Ack("g", broker.Settle{MemberID: "b", Generation: b.gen, Messages: ref}))
		}, api.ErrNotOwner},
		{"nack not owner", Deliveries, func() error {
			return second(tg.Nack("g", broker.NackParams{Settle: broker.Settle{MemberID: "b", Generation: b.gen, Messages: ref}}))
		}, api.ErrNotOwner},
		{"extend unknown", Deliveries, func() error {
			return second(tg.Extend("g", broker.ExtendParams{Settle: broker.Settle{MemberID: "ghost", Generation: a.gen, Messages: ref}}))
		}, api.ErrUnknownMember},
		{"commit stale", 0, func() error {
			return tg.Commit("g", broker.CommitParams{MemberID: "a", Generation: stale, Offsets: commit})
		}, api.ErrStaleGeneration},
		{"commit not owner", 0, func() error {
			return tg.Commit("g", broker.CommitParams{MemberID: "b", Generation: b.gen, Offsets: commit})
		}, api.ErrNotOwner},
		{"leave unknown", 0, func() error { return tg.Leave("g", "ghost") }, api.ErrUnknownMember},
		{"commit to an unknown group", 0, func() error {
			return tg.Commit("nogroup", broker.CommitParams{MemberID: "a", Generation: 1, Offsets: commit})
		}, api.ErrGroupNotFound},
		{"poll of an unknown group", Deliveries, func() error {
			return second(tg.Poll(context.Background(), "nogroup", broker.PollParams{MemberID: "a"}))
		}, api.ErrGroupNotFound},
	} {
		if !lacks(tg, c.needs) {
			wantCode(t, c.name, c.call(), c.want)
		}
	}
	// The members were not fenced by any of it.
	converge(t, a, b)
}

// second is the error of a call that answers a value and an error.
func second[T any](_ T, err error) error { return err }
