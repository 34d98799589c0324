package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// Offsets: where a group starts (reset policies), commits, resets and
// deletion of a group's offsets, and what survives a restart.
func offsetScenarios() []scenario {
	return []scenario{
		{"OffsetResetPolicies", Deliveries, offsetResetPolicies},
		{"CommitResetDeleteAndRestart", Restarts, commitResetDelete},
		{"RestartRedeliversOnlyUnacked", Deliveries | Restarts, restartRedeliversUnacked},
	}
}

// offset_reset: earliest (the default) delivers what is there, latest only
// what arrives next, none refuses to guess until an offset is committed.
// (A Kafka consumer resets its position itself, by its own
// auto.offset.reset, and commits nothing for it: this is the broker's
// delivery.)
func offsetResetPolicies(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 1)
	publishN(t, tg, "orders", 0, 5)

	early := join(t, tg, "early", broker.JoinParams{Topics: []string{"orders"}})
	if got := early.poll(100, 0); !slices.Equal(offsetsOf(got), []int64{0, 1, 2, 3, 4}) {
		t.Fatalf("earliest: %v", refs(got))
	}
	late := join(t, tg, "late", broker.JoinParams{Topics: []string{"orders"}, OffsetReset: api.OffsetResetLatest})
	if got := late.poll(100, 0); len(got) != 0 {
		t.Fatalf("latest: %v", refs(got))
	}
	if got := offsets(t, tg, "late")["orders"][0]; got != 5 {
		t.Fatalf("latest committed %d, want the high watermark 5", got)
	}
	publishN(t, tg, "orders", 0, 1)
	if got := late.poll(100, 0); !slices.Equal(offsetsOf(got), []int64{5}) {
		t.Fatalf("latest after a publish: %v", refs(got))
	}

	none := join(t, tg, "none", broker.JoinParams{Topics: []string{"orders"}, OffsetReset: api.OffsetResetNone})
	_, err := tg.Poll(context.Background(), "none", broker.PollParams{MemberID: none.id, Generation: none.gen})
	e := wantCode(t, "poll with offset_reset none", err, api.ErrNoOffset)
	if fmt.Sprint(e.Details["topic"]) != "orders" || fmt.Sprint(e.Details["partition"]) != "0" {
		t.Fatalf("details %v, want topic orders, partition 0", e.Details)
	}
	if err := tg.Commit("none", broker.CommitParams{MemberID: none.id, Generation: none.gen, Offsets: broker.Offsets{"orders": {0: 2}}}); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if got := none.poll(100, 0); !slices.Equal(offsetsOf(got), []int64{2, 3, 4, 5}) {
		t.Fatalf("none after a commit of 2: %v", refs(got))
	}
}

func reset(t *testing.T, tg Target, group string, p broker.ResetParams) broker.Offsets {
	t.Helper()
	res, err := tg.Reset(group, p)
	if err != nil {
		t.Fatalf("reset to %v: %v", p.To, err)
	}
	return res.Offsets
}

// Committed offsets are where consumers start and survive a restart;
// resets (where the target has them) and deletion need an empty group; a
// deleted group is forgotten, also across a restart.
func commitResetDelete(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 2)
	publishN(t, tg, "orders", 0, 10)
	publishN(t, tg, "orders", 1, 10)
	a := join(t, tg, "g", broker.JoinParams{MemberID: "a", Topics: []string{"orders"}})
	if err := tg.Commit("g", broker.CommitParams{MemberID: "a", Generation: a.gen, Offsets: broker.Offsets{"orders": {0: 4, 1: 7}}}); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if o := offsets(t, tg, "g")["orders"]; o[0] != 4 || o[1] != 7 {
		t.Fatalf("offsets %v, want 4 and 7", o)
	}
	msgs := a.consume(100)
	if !slices.Equal(byPartition(msgs, 0), []int64{4, 5, 6, 7, 8, 9}) || !slices.Equal(byPartition(msgs, 1), []int64{7, 8, 9}) {
		t.Fatalf("consume after the commit: %v", refs(msgs))
	}
	err := tg.Commit("g", broker.CommitParams{MemberID: "a", Generation: a.gen, Offsets: broker.Offsets{"orders": {0: 11}}})
	wantCode(t, "commit past the high watermark", err, api.ErrOffsetOutOfRange)
	if !lacks(tg, Resets) {
		_, err = tg.Reset("g", broker.ResetParams{To: broker.ResetEarliest})
		wantCode(t, "reset of a group with members", err, api.ErrGroupNotEmpty)
	}
	wantCode(t, "delete of a group with members", tg.DeleteGroup("g"), api.ErrGroupNotEmpty)

	tg.Restart()
	if o := offsets(t, tg, "g")["orders"]; o[0] != 4 || o[1] != 7 {
		t.Fatalf("offsets after a restart %v, want 4 and 7", o)
	}
	if d := describe(t, tg, "g"); d.State != api.GroupStateEmpty || d.Lag != 6+3 {
		t.Fatalf("after a restart: state %s, lag %d; want empty, 9", d.State, d.Lag)
	}
	if !lacks(tg, Resets) {
		resets(t, tg)
	}

	if err := tg.DeleteGroup("g"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = tg.Describe("g")
	wantCode(t, "describe of a deleted group", err, api.ErrGroupNotFound)
	tg.Restart()
	_, err = tg.Describe("g")
	wantCode(t, "describe of a deleted group after a restart", err, api.ErrGroupNotFound)
	// Kafka's OffsetFetch answers a group it does not know with no offsets.
	if o, err := tg.Offsets("g"); !errors.Is(err, api.ErrGroupNotFound) && (err != nil || len(o) != 0) {
		t.Fatalf("offsets of a deleted group after a restart: %v, %v; want none", o, err)
	}
	c := join(t, tg, "g", broker.JoinParams{MemberID: "c", Topics: []string{"orders"}})
	if msgs := c.consume(100); len(msgs) != 20 {
		t.Fatalf("a recreated group consumed %d messages, want all 20", len(msgs))
	}
}

// resets resets the empty group g of commitResetDelete (offsets 4 and 7 of
// 10 and 10) every way, ending at 2 and 4, where a new member starts.
func resets(t *testing.T, tg Target) {
	t.Helper()
	for _, c := range []struct {
		p      broker.ResetParams
		p0, p1 int64
	}{
		{broker.ResetParams{To: broker.ResetEarliest}, 0, 0},
		{broker.ResetParams{To: broker.ResetLatest}, 10, 10},
		{broker.ResetParams{To: broker.ResetTimestamp, Time: time.UnixMilli(1)}, 0, 0},
		{broker.ResetParams{To: broker.ResetOffsets, Offsets: broker.Offsets{"orders": {0: 3, 1: 5}}}, 3, 5},
		{broker.ResetParams{To: broker.ResetLatest, DryRun: true}, 10, 10},
		{broker.ResetParams{To: broker.ResetShift, Shift: -1}, 2, 4},
	} {
		if o := reset(t, tg, "g", c.p)["orders"]; o[0] != c.p0 || o[1] != c.p1 {
			t.Fatalf("reset %+v: %v, want %d and %d", c.p, o, c.p0, c.p1)
		}
	}
	_, err := tg.Reset("g", broker.ResetParams{To: broker.ResetOffsets, Offsets: broker.Offsets{"orders": {0: 99}}})
	wantCode(t, "reset past the high watermark", err, api.ErrOffsetOutOfRange)

	b := join(t, tg, "g", broker.JoinParams{MemberID: "b", Topics: []string{"orders"}})
	if msgs := b.consume(100); len(byPartition(msgs, 0)) != 8 || len(byPartition(msgs, 1)) != 6 {
		t.Fatalf("consume after the reset to 2 and 4: %v", refs(msgs))
	}
	b.leave()
}

// Across a restart, acknowledged messages are never delivered again; what
// was in flight is.
func restartRedeliversUnacked(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 1)
	publishN(t, tg, "orders", 0, 10)
	a := join(t, tg, "g", broker.JoinParams{Topics: []string{"orders"}})
	msgs := a.poll(100, 0)
	a.ack(msgs[0], msgs[1], msgs[2], msgs[3], msgs[4], msgs[7])
	tg.Restart()
	_, err := tg.Heartbeat("g", broker.HeartbeatParams{MemberID: a.id, Generation: a.gen})
	if !errors.Is(err, api.ErrUnknownMember) && !errors.Is(err, api.ErrFencedMember) {
		t.Fatalf("heartbeat of a member from before the restart: %v", err)
	}
	b := join(t, tg, "g", broker.JoinParams{Topics: []string{"orders"}})
	if got := offsetsOf(b.poll(100, 0)); !slices.Equal(got, []int64{5, 6, 8, 9}) {
		t.Fatalf("after a restart got offsets %v, want [5 6 8 9]", got)
	}
}
