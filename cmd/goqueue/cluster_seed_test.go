package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestBinaryClusterClientsOutliveTheirNode: a producer and a consumer
// given one node's address only — the node that coordinates their group
// and leads a partition — go on when that node is SIGKILLed: every record
// published after the kill is acknowledged and consumed, through the two
// nodes left. They stopped for good: the producer failed every record
// after the kill, the consumer every poll (both asked only the dead node
// for what any node could tell them).
func TestBinaryClusterClientsOutliveTheirNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const topic, parts, n = "seed", 3, 300
	c := startClusterProcs(t, 3)
	metaLeader := c.agree([]uint64{1, 2, 3}, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	if st := c.do(1, "POST", "/topics", fmt.Sprintf(`{"name":%q,"partitions":%d}`, topic, parts), nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	for id := uint64(1); id <= 3; id++ {
		c.topic(id, topic)
	}
	victim := metaLeader%3 + 1 // not the metadata's leader: its election is not what is tested
	group := groupOn("seed", victim)
	c.awaitCoordinator(victim, group, 1, 2, 3)
	seed := []string{c.procs[victim].URL}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := client.NewProducer(&client.ProducerConfig{Brokers: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	publish := func(from int) {
		t.Helper()
		var mu sync.Mutex
		var failed []error
		for i := from; i < from+n; i++ {
			part := int32(i % parts)
			p.PublishAsync(ctx, topic, &client.Record{Value: []byte(strconv.Itoa(i)), Partition: &part}, func(_ client.Position, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = append(failed, err)
				}
			})
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(failed) > 0 {
			t.Fatalf("%d of records %d..%d failed; first: %v", len(failed), from, from+n-1, failed[0])
		}
	}
	cons, err := client.NewConsumer(&client.ConsumerConfig{Brokers: seed, GroupID: group, Topics: []string{topic},
		SessionTimeout: 6 * time.Second, PollWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	consume := func(from int) {
		t.Helper()
		seen := map[int]bool{}
		var last error
		for len(seen) < n {
			if ctx.Err() != nil {
				t.Fatalf("%d of records %d..%d consumed; the last poll error: %v", len(seen), from, from+n-1, last)
			}
			msgs, err := cons.Poll(ctx, 50)
			if err != nil {
				last = err
				continue
			}
			for _, m := range msgs {
				if i, err := strconv.Atoi(string(m.Value)); err == nil && i >= from {
					seen[i] = true
				}
				_ = cons.Ack(m)
			}
		}
		if err := cons.Commit(); err != nil {
			t.Logf("commit: %v", err)
		}
	}
	publish(0)
	consume(0)
	c.procs[victim].Kill()
	killed := time.Now()
	publish(n)
	t.Logf("records published after the kill acknowledged %v after it", time.Since(killed).Round(time.Millisecond))
	consume(n)
	t.Logf("and consumed %v after it", time.Since(killed).Round(time.Millisecond))
}
