package broker

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// Millisecond fields far beyond any sane bound are refused with the bound in
// details instead of overflowing time.Duration into a negative or default
// value.
func TestJoinRefusesHugeMilliseconds(t *testing.T) {
	b := mustOpen(t, testConfig(t))
	defer b.Close()
	if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  JoinParams
		want *api.Error
		max  time.Duration
	}{
		{"session", JoinParams{SessionTimeout: 5*time.Minute + 1}, api.ErrInvalidTimeout, 5 * time.Minute},
		{"session max int", JoinParams{SessionTimeout: math.MaxInt64}, api.ErrInvalidTimeout, 5 * time.Minute},
		{"rebalance", JoinParams{RebalanceTimeout: time.Hour}, api.ErrInvalidTimeout, 5 * time.Minute},
		{"negative session", JoinParams{SessionTimeout: -time.Millisecond}, api.ErrInvalidTimeout, 5 * time.Minute},
		{"visibility", JoinParams{VisibilityTimeout: math.MaxInt64}, api.ErrInvalidArgument, MaxDelay},
		{"visibility just above", JoinParams{VisibilityTimeout: MaxDelay + 1}, api.ErrInvalidArgument, MaxDelay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Topics = []string{"orders"}
			_, err := b.JoinGroup("g", tc.req, "h")
			var ae *api.Error
			if !errors.As(err, &ae) || !errors.Is(err, tc.want) {
				t.Fatalf("join: %v, want %s", err, tc.want.Code)
			}
			if ae.Details["max"] != tc.max.String() {
				t.Errorf("details %v: want max %v", ae.Details, tc.max)
			}
			if strings.Contains(ae.Message, "_ms") {
				t.Errorf("message %q names a wire field", ae.Message)
			}
		})
	}
	if _, err := b.JoinGroup("g", JoinParams{Topics: []string{"orders"}, VisibilityTimeout: MaxDelay}, "h"); err != nil {
		t.Errorf("join at the bound: %v", err)
	}
}

// A nack delay or an extension of MaxDelay, the longest (front ends hold
// longer ones to it), holds: the message is not redelivered at once (nack)
// nor after the group's visibility timeout (extend).
func TestHugeDelaysSaturate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, stop := runBroker(t, testConfig(t))
		defer stop()
		if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish("orders", []Message{{Value: []byte("x")}, {Value: []byte("y")}}); err != nil {
			t.Fatal(err)
		}
		j, err := b.JoinGroup("g", JoinParams{MemberID: "a", Topics: []string{"orders"}, VisibilityTimeout: time.Duration(1000) * time.Millisecond}, "h")
		if err != nil {
			t.Fatal(err)
		}
		poll := func() []Delivered {
			t.Helper()
			ds, err := b.Poll(context.Background(), "g", PollParams{MemberID: "a", Generation: j.Generation}, "h")
			if err != nil {
				t.Fatal(err)
			}
			return ds
		}
		if ds := poll(); len(ds) != 2 {
			t.Fatalf("polled %d", len(ds))
		}
		ref := func(off int64) []MessageRef {
			return []MessageRef{{Topic: "orders", Partition: 0, Offset: off}}
		}
		if _, err := b.Nack("g", NackParams{Settle: Settle{MemberID: "a", Generation: j.Generation, Messages: ref(0)}, Delay: MaxDelay}, "h"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Extend("g", ExtendParams{Settle: Settle{MemberID: "a", Generation: j.Generation, Messages: ref(1)}, Visibility: MaxDelay}, "h"); err != nil {
			t.Fatal(err)
		}
		for range 3 { // stay alive past the 1 s visibility timeout
			time.Sleep(time.Second)
			if _, err := b.Heartbeat("g", HeartbeatParams{MemberID: "a", Generation: j.Generation}, "h"); err != nil {
				t.Fatal(err)
			}
		}
		if ds := poll(); len(ds) != 0 {
			t.Fatalf("redelivered %d after a nack delay and an extension of MaxInt64 ms", len(ds))
		}
	})
}

// A process that restarts and joins again with its member_id gets what the
// old incarnation held in flight at once (not after the visibility
// timeout), and the old incarnation's acks are refused.
func TestRejoinHandsOffInFlight(t *testing.T) {
	b := mustOpen(t, testConfig(t))
	defer b.Close()
	if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish("orders", []Message{{Value: []byte("x")}, {Value: []byte("y")}}); err != nil {
		t.Fatal(err)
	}
	join := func() JoinResult {
		t.Helper()
		j, err := b.JoinGroup("g", JoinParams{MemberID: "a", Topics: []string{"orders"}}, "h")
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	poll := func(gen int64) []Delivered {
		t.Helper()
		ds, err := b.Poll(context.Background(), "g", PollParams{MemberID: "a", Generation: gen}, "h")
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	old := join()
	if ds := poll(old.Generation); len(ds) != 2 {
		t.Fatalf("first incarnation polled %d", len(ds))
	}
	cur := join()
	if cur.MemberID != "a" || cur.Generation <= old.Generation {
		t.Fatalf("rejoin: %+v after generation %d", cur, old.Generation)
	}
	if ds := poll(cur.Generation); len(ds) != 2 || ds[0].Record.Offset != 0 {
		t.Fatalf("new incarnation polled %d (%+v), want both messages again", len(ds), ds)
	}
	_, err := b.Ack("g", Settle{MemberID: "a", Generation: old.Generation, Messages: []MessageRef{{Topic: "orders", Offset: 0}}}, "h")
	if !errors.Is(err, api.ErrFencedMember) {
		t.Fatalf("old incarnation's ack: %v, want FENCED_MEMBER", err)
	}
	if _, err := b.Ack("g", Settle{MemberID: "a", Generation: cur.Generation, Messages: []MessageRef{{Topic: "orders", Offset: 0}, {Topic: "orders", Offset: 1}}}, "h"); err != nil {
		t.Fatalf("new incarnation's ack: %v", err)
	}
}
