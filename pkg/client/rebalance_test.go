package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// owners tracks, from the callbacks, which consumer owns each partition,
// and fails the test if two own one at once.
type owners struct {
	t  *testing.T
	mu sync.Mutex
	by map[int32]string
}

func (o *owners) callbacks(name string) (assigned, revoked func(api.Assignment)) {
	assigned = func(a api.Assignment) {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, p := range a["orders"] {
			if prev, ok := o.by[p]; ok && prev != name {
				o.t.Errorf("partition %d assigned to %s while %s owns it", p, name, prev)
			}
			o.by[p] = name
		}
	}
	revoked = func(a api.Assignment) {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, p := range a["orders"] {
			delete(o.by, p)
		}
	}
	return assigned, revoked
}

func (o *owners) count(name string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, v := range o.by {
		if v == name {
			n++
		}
	}
	return n
}

// TestConsumersSharePartitionsCooperatively starts one consumer, then a
// second: the first gives up half its partitions (revoked before they are
// assigned to the second), every message is processed, and lag reaches 0.
func TestConsumersSharePartitionsCooperatively(t *testing.T) {
	srv, admin := setup(t, "orders", 4)
	produce(t, srv.URL, "orders", 4000)
	own := &owners{t: t, by: make(map[int32]string)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var (
		mu   sync.Mutex
		seen = make(map[string]int)
		wg   sync.WaitGroup
	)
	consume := func(name string, stopWhen func() bool) {
		defer wg.Done()
		a, r := own.callbacks(name)
		cons := newConsumer(t, client.ConsumerConfig{
			Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"},
			HeartbeatInterval: 50 * time.Millisecond, OnAssigned: a, OnRevoked: r,
		})
		for !stopWhen() && ctx.Err() == nil {
			msgs, err := cons.Poll(ctx, 50)
			if err != nil && ctx.Err() == nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			for _, m := range msgs {
				mu.Lock()
				seen[string(m.Value)]++
				mu.Unlock()
				if err := cons.Ack(m); err != nil && !errors.Is(err, client.ErrRevoked) {
					t.Errorf("%s: ack: %v", name, err)
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
		if err := cons.Close(); err != nil {
			t.Errorf("%s: close: %v", name, err)
		}
	}
	done := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 4000
	}
	wg.Add(1)
	go consume("first", done)
	testkit.Eventually(t, 30*time.Second, func() bool { return own.count("first") == 4 }, "first to own all 4 partitions")
	wg.Add(1)
	go consume("second", done)
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		if f, s := own.count("first"), own.count("second"); f != 2 || s != 2 {
			return fmt.Errorf("no 2/2 split: first %d, second %d", f, s)
		}
		return nil
	})
	wg.Wait()
	if !done() {
		t.Fatalf("processed %d of 4000", len(seen))
	}
	waitLag(t, admin, "g")
}

// TestAutoCommitDoesNotStallOnTheInFlightCap: with the default 5 s
// interval, a consumer reading more than the broker's in-flight cap must
// not wait for the interval — also under a cap the member did not name
// (the broker's --max-in-flight), which it learns from its join's answer:
// it committed early at half the default cap (1000) it assumed, so under
// a cap of 16 each 16 messages waited for the interval (48 took 10 s).
func TestAutoCommitDoesNotStallOnTheInFlightCap(t *testing.T) {
	for _, tc := range []struct {
		name      string
		brokerCap int // 0: the default
		n         int
	}{
		{"default cap", 0, 3000},
		{"broker cap 16, not named", 16, 600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []brokertest.Option
			if tc.brokerCap > 0 {
				opts = append(opts, brokertest.WithConfig(func(c *broker.Config) { c.Delivery.MaxInFlightPerMember = tc.brokerCap }))
			}
			srv, _ := setup(t, "orders", 2, opts...)
			produce(t, srv.URL, "orders", tc.n)
			cons := newConsumer(t, client.ConsumerConfig{
				Brokers: []string{srv.URL}, GroupID: "auto", Topics: []string{"orders"}, AutoCommit: true,
			})
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
			defer cancel()
			for got := 0; got < tc.n; {
				msgs, err := cons.Poll(ctx, 200)
				if err != nil {
					t.Fatalf("after %d of %d: %v", got, tc.n, err)
				}
				got += len(msgs)
			}
		})
	}
}

func TestAutoCommitCommitsWhatEarlierPollsReturned(t *testing.T) {
	srv, admin := setup(t, "orders", 2)
	produce(t, srv.URL, "orders", 500)
	cons := newConsumer(t, client.ConsumerConfig{
		Brokers: []string{srv.URL}, GroupID: "auto", Topics: []string{"orders"},
		AutoCommit: true, AutoCommitInterval: 50 * time.Millisecond,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := 0
	for got < 500 {
		msgs, err := cons.Poll(ctx, 100) // no Ack: polling again is the commit
		if err != nil {
			t.Fatal(err)
		}
		got += len(msgs)
	}
	if _, err := cons.Poll(ctx, 1); err != nil { // the last batch counts as processed
		t.Fatal(err)
	}
	waitLag(t, admin, "auto")
}

func TestNackRedeliversAndDeadLetters(t *testing.T) {
	srv, c := setup(t, "orders", 1)
	produce(t, srv.URL, "orders", 2)
	cons := newConsumer(t, client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	deliveries := make(map[string][]int)
	for len(deliveries["m0"]) < 2 || len(deliveries["m1"]) < 1 {
		msgs, err := cons.Poll(ctx, 10)
		if err != nil {
			t.Fatalf("%v after %v", err, deliveries)
		}
		for _, m := range msgs {
			v := string(m.Value)
			deliveries[v] = append(deliveries[v], m.DeliveryCount)
			switch {
			case v == "m0" && m.DeliveryCount == 1:
				err = cons.NackWith(m, client.NackOptions{Requeue: true, Delay: 10 * time.Millisecond})
			case v == "m0":
				err = cons.Ack(m)
			default:
				err = cons.NackWith(m, client.NackOptions{Requeue: false, Reason: "bad order"})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if fmt.Sprint(deliveries["m0"]) != "[1 2]" {
		t.Fatalf("m0 delivery counts %v, want [1 2]", deliveries["m0"])
	}
	if err := cons.CommitContext(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyNil(t, 5*time.Second, func() error {
		msgs, _, err := c.Fetch(ctx, "orders.dlq", 0, client.FetchOptions{})
		if err != nil || len(msgs) != 1 {
			return fmt.Errorf("no dead letter: %v %v", msgs, err)
		}
		if string(msgs[0].Value) != "m1" || msgs[0].Headers["goqueue-dlq-last-error"] != "bad order" {
			t.Fatalf("dead letter %s with headers %v", msgs[0].Value, msgs[0].Headers)
		}
		return nil
	})
}

// TestLostMemberRejoins restarts the broker under a consumer: the broker no
// longer knows the member, the consumer reports its partitions lost, joins
// again on the next Poll, and reads what was published meanwhile.
func TestLostMemberRejoins(t *testing.T) {
	srv, _ := setup(t, "orders", 2)
	lost := make(chan api.Assignment, 1)
	cons := newConsumer(t, client.ConsumerConfig{
		Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"},
		HeartbeatInterval: 20 * time.Millisecond,
		OnLost:            func(a api.Assignment) { lost <- a },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cons.Poll(ctx, 1); err != nil {
		t.Fatal(err)
	}
	first := cons.MemberID()
	srv.Restart()
	select {
	case a := <-lost:
		if len(a["orders"]) != 2 {
			t.Fatalf("lost %v", a)
		}
	case <-ctx.Done():
		t.Fatal("OnLost never called after the broker forgot the member")
	}
	produce(t, srv.URL, "orders", 10)
	got := 0
	for got < 10 {
		msgs, err := cons.Poll(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			_ = cons.Ack(m)
		}
		got += len(msgs)
	}
	if cons.MemberID() == first || cons.MemberID() == "" {
		t.Fatalf("member %q before the restart, %q after", first, cons.MemberID())
	}
}

func TestConsumerTriesTheNextBroker(t *testing.T) {
	srv, _ := setup(t, "orders", 1)
	produce(t, srv.URL, "orders", 5)
	cons := newConsumer(t, client.ConsumerConfig{
		Brokers: []string{"127.0.0.1:1", srv.URL}, GroupID: "g", Topics: []string{"orders"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := cons.Poll(ctx, 10)
	if err != nil || len(msgs) != 5 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
}

func TestPollHonoursContext(t *testing.T) {
	srv, _ := setup(t, "orders", 1)
	cons := newConsumer(t, client.ConsumerConfig{
		Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}, PollWait: time.Minute,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	msgs, err := cons.Poll(ctx, 10)
	// Ignoring the deadline would wait PollWait, a minute; a loaded machine
	// may well take seconds to join and poll, so allow for that.
	if len(msgs) != 0 || (err != nil && !errors.Is(err, context.DeadlineExceeded)) || time.Since(start) > 30*time.Second {
		t.Fatalf("%d messages, %v after %v", len(msgs), err, time.Since(start))
	}
	// A fresh context: the first may have expired, and an expired context's
	// error stays DeadlineExceeded after cancel.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := cons.Poll(ctx, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("poll with a cancelled context: %v", err)
	}
	if err := cons.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Poll(context.Background(), 1); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("poll after close: %v", err)
	}
}
