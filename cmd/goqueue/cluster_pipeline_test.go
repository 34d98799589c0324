package main

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/cluster/ledger"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// The Go producer pipelines its idempotent batches to a cluster's
// leaders too: several requests per partition in flight, to three
// partitions led by three nodes, while partition 0's leader is SIGKILLed,
// comes back and leads again, twice. Requests that were out at a kill go
// again to the next leader with their sequences, which answers those its
// predecessor wrote with their first offsets. The ledger checks that each
// record is stored once, where its callback said; a record may fail only
// for want of a reachable leader (a failover longer than its retries),
// never OUT_OF_ORDER_SEQUENCE or an old epoch.
func TestBinaryClusterPipelinedProduceAcrossLeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const topic, parts = "pidem", 3
	c, leaders := clusterTopic(t, topic, parts)
	victim := leaders[0]
	var brokers []string
	for _, p := range c.procs {
		brokers = append(brokers, p.URL)
	}
	p, err := client.NewProducer(&client.ProducerConfig{Brokers: brokers, Linger: time.Millisecond, BatchBytes: 8 << 10, MaxInFlight: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var h ledger.History
	var mu sync.Mutex
	var errs []error
	sent := 0
	produce := func(n int, during func()) {
		t.Helper()
		for i := range n {
			v := strconv.Itoa(sent)
			part := int32(sent % parts)
			sent++
			start := time.Now()
			p.PublishAsync(ctx, topic, &client.Record{Value: []byte(v), Partition: &part}, func(at client.Position, err error) {
				pub := ledger.Publish{Value: v, Partition: part, Outcome: ledger.Acked, Offset: at.Offset, Start: start, End: time.Now()}
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					pub.Outcome = ledger.Unknown
					errs = append(errs, err)
				}
				h.Publish(pub)
			})
			if i%50 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
			if i == n/2 && during != nil {
				during()
			}
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	leaderIs := func(want func(uint64) bool, on uint64) {
		t.Helper()
		c.eventually(30*time.Second, "a new leader of partition 0", func() bool {
			for _, pi := range c.topic(on, topic).PartitionInfo {
				if pi.Partition == 0 && pi.Leader != 0 && want(pi.Leader) {
					return true
				}
			}
			return false
		})
	}
	survivor := victim%3 + 1

	produce(3000, nil)
	for range 2 {
		produce(6000, func() { c.procs[victim].Kill() })
		leaderIs(func(l uint64) bool { return l != victim }, survivor)
		produce(3000, nil)
		c.restart(victim)
		leaderIs(func(l uint64) bool { return l == victim }, survivor)
		produce(3000, nil)
	}

	mu.Lock()
	for _, err := range errs {
		if !errors.Is(err, client.ErrUnreachable) || errors.Is(err, api.ErrOutOfOrderSequence) || errors.Is(err, api.ErrInvalidProducerEpoch) {
			t.Fatalf("%d of %d records failed, one for a reason other than an unreachable leader: %v", len(errs), sent, err)
		}
	}
	t.Logf("%d of %d records failed for want of a reachable leader", len(errs), sent)
	// The producer retries for RetryTimeout (15 s), longer than an
	// election: with a budget of five tries (under a second), 670 and
	// 2,099 of 27,000 failed here; now none should, 1% leaves room for a
	// machine so loaded that an election outlasts the budget.
	if len(errs)*100 > sent {
		t.Errorf("%d of %d records failed: the producer gave up during an election", len(errs), sent)
	}
	mu.Unlock()

	reader, err := client.New(c.procs[survivor].URL)
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for part := range int32(parts) {
		msgs := readPartition(t, reader, topic, part)
		stored += len(msgs)
		for _, m := range msgs {
			h.Read(ledger.Read{Reader: "fetch", Session: "fetch", Partition: part, Offset: m.Offset, Value: string(m.Value)})
		}
	}
	if res := ledger.Check(&h); !res.OK() {
		t.Fatalf("%d records stored of %d produced:\n%v", stored, sent, res)
	}
}
