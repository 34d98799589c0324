package client_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestPollKeepsOrderWhileAnnouncing: while OnAssigned runs for a partition
// y that a rebalance gave the member, Poll keeps y's messages back but
// still returns those of the member's other partition x, in offset order,
// and y's, in order, once OnAssigned returned. Before the fix, y's
// messages kept back waited at the front of the messages polled ahead, so
// Poll found nothing there, polled the broker again and returned newer
// messages of x while older ones still waited behind y's: over HTTP
// (GOQUEUE_CLIENT_STREAM=0), "partition 2: offset 47 after 51", every run.
func TestPollKeepsOrderWhileAnnouncing(t *testing.T) {
	srv, _ := setup(t, "orders", 4)
	produce(t, srv.URL, "orders", 16000)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// a owns the four partitions and holds messages of each,
	// unacknowledged: none can move until a acknowledges them.
	a := newConsumer(t, client.ConsumerConfig{
		Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}, HeartbeatInterval: 50 * time.Millisecond,
	})
	held := map[int32][]*client.Message{}
	for len(held) < 4 {
		msgs, err := a.Poll(ctx, 40)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			held[m.Partition] = append(held[m.Partition], m)
		}
	}
	var nAssigned atomic.Int32
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	defer release() // before the cleanup closes b
	b := newConsumer(t, client.ConsumerConfig{
		Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}, HeartbeatInterval: 50 * time.Millisecond,
		OnAssigned: func(as api.Assignment) {
			if len(as["orders"]) > 0 && nAssigned.Add(1) == 2 {
				<-gate // the second partition's OnAssigned is slow
			}
		},
	})
	if _, err := b.Poll(ctx, 5); err != nil {
		t.Fatal(err)
	}
	last := map[int32]int64{}
	bad := false
	check := func(msgs []*client.Message) {
		for _, m := range msgs {
			if l, ok := last[m.Partition]; ok && m.Offset <= l && !bad {
				bad = true
				t.Errorf("partition %d: offset %d after %d", m.Partition, m.Offset, l)
			}
			last[m.Partition] = m.Offset
			if err := b.Ack(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	poll := func() []*client.Message {
		msgs, err := b.Poll(ctx, 5)
		if err != nil {
			t.Fatal(err)
		}
		check(msgs)
		return msgs
	}
	// a acknowledges what it holds of one partition after another until
	// one (x) moves to b, whose OnAssigned for it returns at once.
	p := int32(0)
	for ; p < 4 && nAssigned.Load() < 1; p++ {
		for _, m := range held[p] {
			a.Ack(m)
		}
		time.Sleep(time.Second)
	}
	if nAssigned.Load() != 1 {
		t.Fatalf("b was assigned %d times, want once", nAssigned.Load())
	}
	x := p - 1
	for range 5 {
		poll()
	}
	// The next partition to move (y) has b's OnAssigned blocked; b's Polls
	// meanwhile poll ahead and fetch y's messages with x's.
	y := int32(-1)
	for ; p < 4 && nAssigned.Load() < 2; p++ {
		for _, m := range held[p] {
			a.Ack(m)
		}
		y = p
		for i := 0; i < 10 && nAssigned.Load() < 2; i++ {
			poll()
			time.Sleep(100 * time.Millisecond)
		}
	}
	if nAssigned.Load() != 2 {
		t.Fatalf("b was assigned %d times, want twice", nAssigned.Load())
	}
	xs, ys, polls := 0, 0, 0
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); polls++ {
		for _, m := range poll() {
			switch m.Partition {
			case x:
				xs++
			case y:
				ys++
			}
		}
	}
	t.Logf("while OnAssigned of %d runs: %d Polls, %d messages of %d", y, polls, xs, x)
	if ys > 0 {
		t.Errorf("Poll returned %d messages of %d while its OnAssigned ran", ys, y)
	}
	if xs == 0 {
		t.Errorf("Poll returned no message of %d while OnAssigned of %d ran", x, y)
	}
	release()
	for ys = 0; ys == 0 && ctx.Err() == nil; {
		for _, m := range poll() {
			if m.Partition == y {
				ys++
			}
		}
	}
	for range 40 {
		poll()
	}
	t.Logf("x=%d y=%d last=%v", x, y, last)
}
