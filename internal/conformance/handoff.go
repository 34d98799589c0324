package conformance

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// Handoff: a partition moving between members, by a rebalance or a crash,
// loses nothing, delivers again only what was in flight, and counts that
// delivery.
func handoffScenarios() []scenario {
	return []scenario{
		{"HandoffMovesInFlightAtOnce", Deliveries, handoffAtOnce},
		{"CrashedMembersMessagesMoveAtSessionTimeout", Deliveries | SessionTimeouts, crashHandoff},
		{"RevokingOwnerMayStillCommit", 0, revokingOwnerCommits},
		{"RandomHandlersLoseNothing", Deliveries | SessionTimeouts, randomHandlersLoseNothing},
	}
}

// byPartition returns the offsets of msgs in partition p, in order.
func byPartition(msgs []Message, p int32) []int64 {
	var out []int64
	for _, m := range msgs {
		if m.Partition == p {
			out = append(out, m.Offset)
		}
	}
	slices.Sort(out)
	return out
}

// A cooperative revocation hands what the old owner held in flight, and
// only that, to the new owner at once (not after the visibility timeout),
// as a further delivery; the old owner can no longer settle it, and no
// acknowledged message is ever delivered again.
func handoffAtOnce(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 2)
	publishN(t, tg, "orders", 0, 5)
	publishN(t, tg, "orders", 1, 5)
	a := join(t, tg, "g", broker.JoinParams{MemberID: "a", Topics: []string{"orders"}})
	held := a.poll(100, 0)
	if len(held) != 10 {
		t.Fatalf("a holds %d, want 10", len(held))
	}
	var first2 []Message
	for _, m := range held {
		if m.Offset < 2 {
			first2 = append(first2, m)
		}
	}
	a.ack(first2...)
	b := join(t, tg, "g", broker.JoinParams{MemberID: "b", Topics: []string{"orders"}})
	converge(t, a, b)
	moved, kept := b.owned["orders"][0], a.owned["orders"][0]
	got := b.poll(100, 0)
	if !slices.Equal(offsetsOf(got), []int64{2, 3, 4}) || got[0].Partition != moved {
		t.Fatalf("b got %v after taking partition %d, want offsets 2-4 of it", refs(got), moved)
	}
	for _, m := range got {
		if m.DeliveryCount != 2 {
			t.Fatalf("handed-off %v has delivery count %d, want 2", m.Ref(), m.DeliveryCount)
		}
	}
	_, err := tg.Ack("g", a.settle(got[0]))
	wantCode(t, "a's ack of a partition it released", err, api.ErrNotOwner)
	b.ack(got...)
	var rest []Message
	for _, m := range held {
		if m.Partition == kept && m.Offset >= 2 {
			rest = append(rest, m)
		}
	}
	a.ack(rest...)
	if o := offsets(t, tg, "g")["orders"]; o[0] != 5 || o[1] != 5 {
		t.Fatalf("committed %v, want 5 and 5", o)
	}
	// Past the visibility timeout, nothing comes again.
	for range 4 {
		time.Sleep(10 * time.Second)
		a.heartbeat()
		b.heartbeat()
		if again := append(a.poll(100, 0), b.poll(100, 0)...); len(again) != 0 {
			t.Fatalf("delivered again after every message was acked: %v", refs(again))
		}
	}
	publishN(t, tg, "orders", 0, 2)
	publishN(t, tg, "orders", 1, 2)
	for _, m := range []*member{a, b} {
		got := m.poll(100, 0)
		p := m.owned["orders"][0]
		if !slices.Equal(byPartition(got, p), []int64{5, 6}) || len(got) != 2 || got[0].DeliveryCount != 1 {
			t.Fatalf("%s polled %v of new messages, want offsets 5-6 of its partition %d", m.id, refs(got), p)
		}
	}
}

// After a member stops heartbeating, the messages it held reach the new
// owner at its session timeout (within one heartbeat interval more), long
// before their visibility timeout; each delivery counts.
func crashHandoff(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 2)
	publishSpread(t, tg, "orders", 20)
	const session = 10 * time.Second // the visibility timeout stays 30 s
	a := join(t, tg, "g", broker.JoinParams{MemberID: "a", Topics: []string{"orders"}, SessionTimeout: session})
	b := join(t, tg, "g", broker.JoinParams{MemberID: "b", Topics: []string{"orders"}, SessionTimeout: session})
	converge(t, a, b)
	held := a.poll(100, 0)
	if len(held) != 10 {
		t.Fatalf("a holds %d, want 10", len(held))
	}
	interval := a.heartbeat().HeartbeatInterval
	crashed := time.Now() // a's last heartbeat
	var got []Message
	for len(got) < 20 {
		got = append(got, b.poll(100, 0)...)
		if len(got) > 10 && time.Since(crashed) < session {
			t.Fatalf("b got a's messages %v after a stopped, before its session timeout", time.Since(crashed))
		}
		if time.Since(crashed) > session+interval {
			t.Fatalf("b has %d of 20 %v after a stopped; want all within %v", len(got), time.Since(crashed), session+interval)
		}
		time.Sleep(time.Second)
		b.heartbeat()
	}
	heldBy := make(map[broker.MessageRef]bool)
	for _, m := range held {
		heldBy[m.Ref()] = true
	}
	for _, m := range got {
		want := 1
		if heldBy[m.Ref()] {
			want = 2
		}
		if m.DeliveryCount != want {
			t.Fatalf("delivery count %d, want %d: %+v", m.DeliveryCount, want, m)
		}
	}
	if r := refs(got); len(slices.Compact(r)) != 20 {
		t.Fatalf("b got %v, want 20 distinct messages", refs(got))
	}
	res, err := tg.Ack("g", a.settle(held...))
	if !errors.Is(err, api.ErrFencedMember) && !errors.Is(err, api.ErrUnknownMember) {
		t.Fatalf("the crashed member's ack: %+v, %v; want it fenced", res, err)
	}
	b.ack(got...)
}

// A member told to give up a partition may still commit it until it
// releases it; the new owner starts at that commit.
func revokingOwnerCommits(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 2)
	publishN(t, tg, "orders", 0, 5)
	publishN(t, tg, "orders", 1, 5)
	a := join(t, tg, "g", broker.JoinParams{MemberID: "a", Topics: []string{"orders"}})
	b := join(t, tg, "g", broker.JoinParams{MemberID: "b", Topics: []string{"orders"}})
	owned := a.owned
	res := a.heartbeat()
	if len(res.Revoked["orders"]) != 1 {
		t.Fatalf("a's heartbeat after b joined: %+v, want one partition revoked", res)
	}
	p := res.Revoked["orders"][0]
	// a still holds p (it has not said otherwise): it commits what it did.
	if err := tg.Commit("g", broker.CommitParams{MemberID: a.id, Generation: a.gen, Offsets: broker.Offsets{"orders": {p: 3}}}); err != nil {
		t.Fatalf("commit of revoking partition %d: %v (a owned %v)", p, err, owned)
	}
	converge(t, a, b)
	if got := b.owned["orders"]; !slices.Equal(got, []int32{p}) {
		t.Fatalf("b owns %v, want %d", got, p)
	}
	if got := b.consume(100); !slices.Equal(offsetsOf(got), []int64{3, 4}) {
		t.Fatalf("b consumed %v, want offsets 3-4 of partition %d", refs(got), p)
	}
	err := tg.Commit("g", broker.CommitParams{MemberID: a.id, Generation: a.gen, Offsets: broker.Offsets{"orders": {p: 4}}})
	wantCode(t, "a's commit after releasing", err, api.ErrNotOwner)
}
