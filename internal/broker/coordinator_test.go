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
		if _, err := b.CreateTopic(api.CreateTopicRequest{Name: "orders", Partitions: 2}); err != nil {
			t.Fatal(err)
		}
		for p := range int32(2) {
			if _, err := b.Publish("orders", []Message{{Value: []byte("x"), Partition: p}}); err != nil {
				t.Fatal(err)
			}
		}
		ja, err := b.JoinGroup("g", api.JoinRequest{MemberID: "a", Topics: []string{"orders"}}, "h")
		if err != nil {
			t.Fatal(err)
		}
		held, err := b.Poll(context.Background(), "g", api.PollRequest{MemberID: "a", Generation: ja.Generation}, "h")
		if err != nil || len(held) != 2 {
			t.Fatalf("a polled %d, %v", len(held), err)
		}
		jb, err := b.JoinGroup("g", api.JoinRequest{MemberID: "b", Topics: []string{"orders"}}, "h")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		// b heartbeats every 10 s (the interval it was told); a is silent.
		var hb api.HeartbeatResponse
		for range 5 {
			time.Sleep(time.Duration(jb.HeartbeatIntervalMS) * time.Millisecond / 2) // 5 s
			if hb, err = b.Heartbeat("g", api.HeartbeatRequest{MemberID: "b", Generation: jb.Generation, OwnedPartitions: hb.AssignedPartitions}, "h"); err != nil {
				t.Fatal(err)
			}
			if len(hb.AssignedPartitions["orders"]) == 2 {
				t.Fatalf("b got everything %v after %v, before a's session timeout", hb.AssignedPartitions, time.Since(start))
			}
		}
		time.Sleep(time.Until(start.Add(30 * time.Second)))
		synctest.Wait() // the timer loop fences a
		hb, err = b.Heartbeat("g", api.HeartbeatRequest{MemberID: "b", Generation: hb.Generation, OwnedPartitions: hb.AssignedPartitions}, "h")
		if err != nil || len(hb.AssignedPartitions["orders"]) != 2 {
			t.Fatalf("b after a's session timeout: %+v, %v", hb, err)
		}
		got, err := b.Poll(context.Background(), "g", api.PollRequest{MemberID: "b", Generation: hb.Generation}, "h")
		if err != nil || len(got) != 2 {
			t.Fatalf("b polled %d of a's in-flight messages, %v", len(got), err)
		}
		if _, err := b.Heartbeat("g", api.HeartbeatRequest{MemberID: "a", Generation: ja.Generation}, "h"); !errors.Is(err, api.ErrFencedMember) {
			t.Fatalf("a's heartbeat after its timeout: %v", err)
		}
	})
}

// A long poll wakes when a nacked message's backoff ends, with no append.
func TestPollWakesForRedelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, stop := runBroker(t, testConfig(t))
		defer stop()
		if _, err := b.CreateTopic(api.CreateTopicRequest{Name: "orders", Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish("orders", []Message{{Value: []byte("x"), Partition: 0}}); err != nil {
			t.Fatal(err)
		}
		j, err := b.JoinGroup("g", api.JoinRequest{Topics: []string{"orders"}}, "h")
		if err != nil {
			t.Fatal(err)
		}
		req := api.PollRequest{MemberID: j.MemberID, Generation: j.Generation, WaitMS: 10000}
		got, err := b.Poll(context.Background(), "g", req, "h")
		if err != nil || len(got) != 1 {
			t.Fatal(len(got), err)
		}
		ref := api.MessageRef{Topic: "orders", Partition: 0, Offset: 0}
		if _, err := b.Nack("g", api.AckRequest{MemberID: j.MemberID, Generation: j.Generation, Messages: []api.MessageRef{ref}, DelayMS: 1500}, "h"); err != nil {
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
