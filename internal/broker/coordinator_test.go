package broker

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// runBroker opens a broker with Run going, stopped and closed by the
// returned function.
func runBroker(t *testing.T, c Config) (*Broker, func()) {
	t.Helper()
	b := mustOpen(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	return b, func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}
}

// With the default 30 s session timeout, a member that stops heartbeating
// is fenced by the timer loop at 30 s (not before), its partitions move,
// and the messages it held in flight are deliverable to the new owner at
// once (long before the 30 s visibility timeout).
func TestSessionTimeoutMovesPartitionsAndInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, stop := runBroker(t, testConfig(t))
		defer stop()
		if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 2}); err != nil {
			t.Fatal(err)
		}
		for p := range int32(2) {
			if _, err := b.Publish("orders", []Message{{Value: []byte("x"), Partition: p}}); err != nil {
				t.Fatal(err)
			}
		}
		ja, err := b.JoinGroup("g", JoinParams{MemberID: "a", Topics: []string{"orders"}}, "h")
		if err != nil {
			t.Fatal(err)
		}
		held, err := b.Poll(context.Background(), "g", PollParams{MemberID: "a", Generation: ja.Generation}, "h")
		if err != nil || len(held) != 2 {
			t.Fatalf("a polled %d, %v", len(held), err)
		}
		jb, err := b.JoinGroup("g", JoinParams{MemberID: "b", Topics: []string{"orders"}}, "h")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		// b heartbeats every 10 s (the interval it was told); a is silent.
		var hb HeartbeatResult
		for range 5 {
			time.Sleep(jb.HeartbeatInterval / 2) // 5 s
			if hb, err = b.Heartbeat("g", HeartbeatParams{MemberID: "b", Generation: jb.Generation, Owned: hb.Assigned}, "h"); err != nil {
				t.Fatal(err)
			}
			if len(hb.Assigned["orders"]) == 2 {
				t.Fatalf("b got everything %v after %v, before a's session timeout", hb.Assigned, time.Since(start))
			}
		}
		time.Sleep(time.Until(start.Add(30 * time.Second)))
		synctest.Wait() // the timer loop fences a
		hb, err = b.Heartbeat("g", HeartbeatParams{MemberID: "b", Generation: hb.Generation, Owned: hb.Assigned}, "h")
		if err != nil || len(hb.Assigned["orders"]) != 2 {
			t.Fatalf("b after a's session timeout: %+v, %v", hb, err)
		}
		got, err := b.Poll(context.Background(), "g", PollParams{MemberID: "b", Generation: hb.Generation}, "h")
		if err != nil || len(got) != 2 {
			t.Fatalf("b polled %d of a's in-flight messages, %v", len(got), err)
		}
		if _, err := b.Heartbeat("g", HeartbeatParams{MemberID: "a", Generation: ja.Generation}, "h"); !errors.Is(err, api.ErrFencedMember) {
			t.Fatalf("a's heartbeat after its timeout: %v", err)
		}
	})
}

// A long poll wakes when a nacked message's backoff ends, with no append.
func TestPollWakesForRedelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, stop := runBroker(t, testConfig(t))
		defer stop()
		if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish("orders", []Message{{Value: []byte("x"), Partition: 0}}); err != nil {
			t.Fatal(err)
		}
		j, err := b.JoinGroup("g", JoinParams{Topics: []string{"orders"}}, "h")
		if err != nil {
			t.Fatal(err)
		}
		req := PollParams{MemberID: j.MemberID, Generation: j.Generation, Wait: time.Duration(10000) * time.Millisecond}
		got, err := b.Poll(context.Background(), "g", req, "h")
		if err != nil || len(got) != 1 {
			t.Fatal(len(got), err)
		}
		ref := MessageRef{Topic: "orders", Partition: 0, Offset: 0}
		if _, err := b.Nack("g", NackParams{Settle: Settle{MemberID: j.MemberID, Generation: j.Generation, Messages: []MessageRef{ref}}, Delay: 1500 * time.Millisecond}, "h"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got, err = b.Poll(context.Background(), "g", req, "h")
		if err != nil || len(got) != 1 || got[0].DeliveryCount != 2 {
			t.Fatalf("poll after nack: %+v, %v", got, err)
		}
		if waited := time.Since(start); waited != 1500*time.Millisecond {
			t.Fatalf("redelivered after %v, want 1.5s", waited)
		}
	})
}

// Offsets that retention removed are skipped: a group behind the earliest
// offset continues from it, and its committed offset moves there.
func TestPollSkipsWhatRetentionRemoved(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := testConfig(t)
	c.Now = clock.Now
	b := mustOpen(t, c)
	defer b.Close()
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1, Retention: time.Duration(1) * time.Hour, SegmentBytes: MinSegmentBytes}); err != nil {
		t.Fatal(err)
	}
	j, err := b.JoinGroup("g", JoinParams{Topics: []string{"t"}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	poll := func() []Delivered {
		t.Helper()
		got, err := b.Poll(t.Context(), "g", PollParams{MemberID: j.MemberID, Generation: j.Generation, MaxMessages: 1000}, "h")
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	poll() // the group starts at offset 0
	value := make([]byte, 1000)
	for range 20 {
		if _, err := b.Publish("t", []Message{{Value: value, Partition: AnyPartition}}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(2 * time.Hour)
	if _, err := b.Publish("t", []Message{{Value: []byte("fresh"), Partition: AnyPartition}}); err != nil {
		t.Fatal(err)
	}
	b.enforceRetention()
	earliest := must(b.Topic("t")).Partitions[0].EarliestOffset
	if earliest == 0 {
		t.Fatal("retention removed nothing")
	}
	got := poll()
	if len(got) != int(21-earliest) || got[0].Record.Offset != earliest || string(got[len(got)-1].Record.Value) != "fresh" {
		t.Fatalf("after retention polled %d from %d, earliest %d", len(got), got[0].Record.Offset, earliest)
	}
	offs, _ := b.GroupOffsets("g")
	if offs["t"][0] != earliest {
		t.Fatalf("committed %v, want the earliest offset %d", offs, earliest)
	}
}

// A member's long poll answers at once when a release makes a partition of
// its target free (its heartbeat is due: a rebalance travels at once), and
// its next long poll wakes when the heartbeat gives it the partition, not
// at the end of its wait.
func TestPollWakesOnNewAssignment(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, stop := runBroker(t, testConfig(t))
		defer stop()
		if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 2}); err != nil {
			t.Fatal(err)
		}
		for p := range int32(2) {
			if _, err := b.Publish("orders", []Message{{Value: []byte("x"), Partition: p}}); err != nil {
				t.Fatal(err)
			}
		}
		ja, _ := b.JoinGroup("g", JoinParams{MemberID: "a", Topics: []string{"orders"}}, "h")
		jb, _ := b.JoinGroup("g", JoinParams{MemberID: "b", Topics: []string{"orders"}}, "h")
		start := time.Now()
		done := make(chan []Delivered)
		poll := func() {
			got, err := b.Poll(context.Background(), "g", PollParams{MemberID: "b", Generation: jb.Generation, Wait: time.Duration(20000) * time.Millisecond}, "h")
			if err != nil {
				t.Error(err)
			}
			done <- got
		}
		go poll()
		synctest.Wait()
		time.Sleep(time.Second)
		// a releases one partition; b's heartbeat is told it may take it.
		hb, err := b.Heartbeat("g", HeartbeatParams{MemberID: "a", Generation: ja.Generation, Owned: ja.Assigned}, "h")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Heartbeat("g", HeartbeatParams{MemberID: "a", Generation: hb.Generation, Owned: hb.Assigned}, "h"); err != nil {
			t.Fatal(err)
		}
		if got := <-done; len(got) != 0 || time.Since(start) != time.Second || !b.HeartbeatDue("g", "b") {
			t.Fatalf("b's poll answered %d messages after %v, heartbeat due %v; want none at once, due", len(got), time.Since(start), b.HeartbeatDue("g", "b"))
		}
		go poll() // nudged once: this one waits
		synctest.Wait()
		if _, err := b.Heartbeat("g", HeartbeatParams{MemberID: "b", Generation: jb.Generation}, "h"); err != nil {
			t.Fatal(err)
		}
		got := <-done
		if len(got) != 1 || time.Since(start) != time.Second {
			t.Fatalf("b's poll answered %d messages after %v", len(got), time.Since(start))
		}
	})
}
