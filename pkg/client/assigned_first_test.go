package client_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// announced tracks, from a consumer's callbacks, the partitions of orders
// it has been told it owns: OnAssigned has returned for them, and neither
// OnRevoked nor OnLost has begun. Poll may return messages of these alone.
type announced struct {
	t     *testing.T
	name  string
	mu    sync.Mutex
	parts map[int32]bool
}

func newAnnounced(t *testing.T, name string) *announced {
	return &announced{t: t, name: name, parts: make(map[int32]bool)}
}

func (a *announced) assigned(as api.Assignment) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range as["orders"] {
		a.parts[p] = true
	}
}

func (a *announced) revoked(as api.Assignment) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range as["orders"] {
		delete(a.parts, p)
	}
}

// check fails the test if msgs (what a Poll returned) hold messages of a
// partition not announced.
func (a *announced) check(msgs []*client.Message) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var bad []*client.Message
	for _, m := range msgs {
		if !a.parts[m.Partition] {
			bad = append(bad, m)
		}
	}
	if len(bad) > 0 {
		a.t.Errorf("%s: Poll returned %d messages (the first %s, partition %d, offset %d) of partitions for which OnAssigned had not returned (announced: %v)",
			a.name, len(bad), bad[0].Value, bad[0].Partition, bad[0].Offset, a.parts)
	}
}

// blocker is an OnAssigned that holds the first non-empty assignment until
// release is called, reporting it on entered, then records it in seen.
type blocker struct {
	seen    *announced
	entered chan api.Assignment
	gate    chan struct{}
	once    sync.Once
}

func newBlocker(seen *announced) *blocker {
	return &blocker{seen: seen, entered: make(chan api.Assignment, 1), gate: make(chan struct{})}
}

func (b *blocker) onAssigned(as api.Assignment) {
	if len(as["orders"]) > 0 {
		select {
		case b.entered <- as:
		default:
		}
		<-b.gate
	}
	b.seen.assigned(as)
}

func (b *blocker) release() { b.once.Do(func() { close(b.gate) }) }

// TestPollWaitsForOnAssignedOfRebalance: a partition that moves to a
// member in a rebalance (a heartbeat's answer) is not handed out by Poll
// before the member's OnAssigned for it has returned, however long the
// callback takes, as Kafka's rebalance listener promises: the application
// sets up what it keeps per partition there. The member that gave the
// partition up hands none of it out after its OnRevoked either. Before the
// fix, the heartbeat marked the partition owned before OnAssigned ran (on
// the consumer's background goroutine), and a Poll meanwhile returned its
// messages.
func TestPollWaitsForOnAssignedOfRebalance(t *testing.T) {
	srv, admin := setup(t, "orders", 2)
	produce(t, srv.URL, "orders", 200)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	aSeen := newAnnounced(t, "a")
	a := newConsumer(t, client.ConsumerConfig{
		Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}, HeartbeatInterval: 50 * time.Millisecond,
		OnAssigned: aSeen.assigned, OnRevoked: aSeen.revoked, OnLost: aSeen.revoked,
	})
	// a owns both partitions and holds messages of each, unacknowledged:
	// neither can move until a acknowledges them.
	var held []*client.Message
	for parts := map[int32]bool{}; len(parts) < 2; {
		msgs, err := a.Poll(ctx, 20)
		if err != nil {
			t.Fatal(err)
		}
		aSeen.check(msgs)
		for _, m := range msgs {
			parts[m.Partition] = true
		}
		held = append(held, msgs...)
	}

	bSeen := newAnnounced(t, "b")
	hold := newBlocker(bSeen)
	defer hold.release() // before the cleanup closes b
	b := newConsumer(t, client.ConsumerConfig{
		Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}, HeartbeatInterval: 50 * time.Millisecond,
		OnAssigned: hold.onAssigned, OnRevoked: bSeen.revoked, OnLost: bSeen.revoked,
	})
	// b joins, and is given nothing yet: what it is to get is a's until a
	// acknowledges what it holds of it.
	if msgs, err := b.Poll(ctx, 50); err != nil || len(msgs) != 0 {
		t.Fatalf("b's first Poll: %d messages, %v", len(msgs), err)
	}
	for _, m := range held {
		if err := a.Ack(m); err != nil {
			t.Fatal(err)
		}
	}
	// a releases one partition (OnRevoked first), and b's heartbeat gets
	// it. No Poll of b's is running: the heartbeat's answer is applied,
	// on b's background goroutine, before OnAssigned is called.
	var moved int32
	select {
	case as := <-hold.entered:
		if len(as["orders"]) != 1 {
			t.Fatalf("b was assigned %v", as)
		}
		moved = as["orders"][0]
	case <-ctx.Done():
		t.Fatal("b was never assigned a partition")
	}
	msgs, err := a.Poll(ctx, 200)
	if err != nil {
		t.Fatal(err)
	}
	aSeen.check(msgs)

	var polls, handed atomic.Int64
	pctx, stopPolling := context.WithCancel(ctx)
	polling := make(chan struct{})
	go func() {
		defer close(polling)
		for pctx.Err() == nil {
			msgs, err := b.Poll(pctx, 50)
			if err != nil && pctx.Err() == nil {
				t.Errorf("b: %v", err)
				return
			}
			bSeen.check(msgs)
			for _, m := range msgs {
				if err := b.Ack(m); err != nil {
					t.Errorf("b: ack: %v", err)
				}
			}
			handed.Add(int64(len(msgs)))
			polls.Add(1)
		}
	}()
	defer func() {
		hold.release() // first: should a Poll be in OnAssigned
		stopPolling()
		<-polling
	}()
	// The broker has handed b messages of the partition: b's Polls have
	// them, and must keep them until OnAssigned returns.
	testkit.Eventually(t, 10*time.Second, func() bool {
		if handed.Load() > 0 {
			return true // handed out already: failed above
		}
		d, err := admin.Group(ctx, "g")
		if err != nil {
			return false
		}
		for _, p := range d.Partitions {
			if p.Topic == "orders" && p.Partition == moved {
				return p.Owner == b.MemberID() && p.InFlight > 0
			}
		}
		return false
	}, "messages of partition %d delivered to b", moved)
	after := polls.Load()
	testkit.Eventually(t, 10*time.Second, func() bool { return polls.Load() >= after+3 }, "three more Polls of b while OnAssigned runs")
	if n := handed.Load(); n != 0 && !t.Failed() {
		t.Fatalf("b's Polls returned %d messages while OnAssigned had not returned", n)
	}
	hold.release()
	testkit.Eventually(t, 10*time.Second, func() bool { return handed.Load() > 0 },
		"b's Poll to return the partition's messages once OnAssigned returned")
}

// TestPollAfterAbandonedJoinWaitsForOnAssigned: a Poll that gives up
// while the join it made is still in OnAssigned leaves the join to finish;
// the next Poll, which finds the member joined, does not hand out messages
// of the partitions the join assigned until OnAssigned has returned.
func TestPollAfterAbandonedJoinWaitsForOnAssigned(t *testing.T) {
	srv, _ := setup(t, "orders", 1)
	produce(t, srv.URL, "orders", 20)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	seen := newAnnounced(t, "c")
	hold := newBlocker(seen)
	defer hold.release() // before the cleanup closes c: Close waits for the join
	c := newConsumer(t, client.ConsumerConfig{
		Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"},
		OnAssigned: hold.onAssigned, OnRevoked: seen.revoked, OnLost: seen.revoked,
	})
	first, giveUp := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() {
		_, err := c.Poll(first, 10)
		gaveUp <- err
	}()
	select {
	case <-hold.entered:
	case <-ctx.Done():
		t.Fatal("the join never called OnAssigned")
	}
	giveUp()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("the first Poll, given up during the join: %v", err)
	}
	for range 3 {
		msgs, err := c.Poll(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		seen.check(msgs)
		if t.Failed() {
			return
		}
	}
	hold.release()
	for n := 0; n == 0; {
		msgs, err := c.Poll(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		seen.check(msgs)
		n = len(msgs)
	}
}

// TestCloseWithOnAssignedStuck: Close of a consumer whose OnAssigned, for
// a partition a heartbeat's answer gave it, never returns ends within
// twice its CloseTimeout, says why in its error, and leaves the group (the
// partition goes back to the group at once, not after the member's
// session timeout). Before, it waited for the callback forever.
func TestCloseWithOnAssignedStuck(t *testing.T) {
	srv, admin := setup(t, "orders", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := newConsumer(t, client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}})
	if _, err := a.Poll(ctx, 1); err != nil { // a joins, and owns the partition
		t.Fatal(err)
	}
	hold := newBlocker(newAnnounced(t, "b"))
	defer hold.release()
	b := newConsumer(t, client.ConsumerConfig{
		Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}, HeartbeatInterval: 50 * time.Millisecond,
		CloseTimeout: 500 * time.Millisecond, SessionTimeout: time.Minute, OnAssigned: hold.onAssigned,
	})
	if _, err := b.Poll(ctx, 1); err != nil { // b joins, given nothing
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hold.entered: // b's heartbeat got the partition; OnAssigned holds it
	case <-ctx.Done():
		t.Fatal("b was never assigned the partition")
	}
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case err := <-closed:
		if err == nil || !strings.Contains(err.Error(), "OnRevoked not called") {
			t.Fatalf("Close: %v, want the error that a callback did not return", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waits for OnAssigned after 10 s (CloseTimeout 500 ms)")
	}
	d, err := admin.Group(ctx, "g")
	if err != nil || len(d.Members) != 0 {
		t.Fatalf("after b's Close the group has %+v, %v; want no member", d, err)
	}
}
