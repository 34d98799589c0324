package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/abd-ulbasit/goqueue/internal/cluster/ledger"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// An idempotent kgo producer (franz-go's default) keeps producing to one
// partition while its leader is SIGKILLed, comes back and leads again,
// three times: one of the two other nodes so leads twice, with what the
// others wrote in between. Batches in flight at a kill are retried at the
// next leader with their sequences: each record is stored once, where its
// acknowledgement said; no error reaches the producer, and no batch is
// refused OUT_OF_ORDER_SEQUENCE (kgo then renumbers it under a new epoch
// and reports data loss: a refused retry of a batch that was written is
// then written twice). The ledger checks the history read back.
func TestBinaryClusterKafkaIdempotentFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const topic = "kidem"
	c, leaders := clusterTopic(t, topic, 3)
	victim := leaders[0]
	var dataLoss atomic.Int64
	var seeds []string
	for _, p := range c.procs {
		seeds = append(seeds, p.Kafka)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProduceRequestTimeout(5*time.Second), kgo.RetryTimeout(time.Minute),
		kgo.ProducerOnDataLossDetected(func(string, int32) { dataLoss.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// A kgo consumer reads the partition from the start all along, across
	// the leader changes and the leader epochs they bring (a node fences a
	// fetch at an older epoch; a new leader sends the consumer back to the
	// metadata until it has its predecessor's entries): it must read every
	// offset once, in order, never reset.
	cons, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var consumedMu sync.Mutex
	var consumed []int64
	consumeCtx, stopConsumer := context.WithCancel(ctx)
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		for consumeCtx.Err() == nil {
			fs := cons.PollFetches(consumeCtx)
			fs.EachError(func(topic string, p int32, err error) {
				if consumeCtx.Err() == nil {
					t.Logf("kgo consumer: %s/%d: %v", topic, p, err) // retried by kgo; the offsets checked below tell
				}
			})
			consumedMu.Lock()
			fs.EachRecord(func(r *kgo.Record) { consumed = append(consumed, r.Offset) })
			consumedMu.Unlock()
		}
	}()
	defer func() { stopConsumer(); <-consumerDone }()

	var h ledger.History
	var mu sync.Mutex
	var errs []error
	acked := 0
	sent := 0
	// produce sends n records in small steps, so some are in flight when
	// a leader dies, and waits for their answers.
	produce := func(n int, during func()) {
		t.Helper()
		for i := range n {
			v := strconv.Itoa(sent)
			sent++
			start := time.Now()
			cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)}, func(r *kgo.Record, err error) {
				p := ledger.Publish{Value: v, Partition: 0, Outcome: ledger.Acked, Offset: r.Offset, Start: start, End: time.Now()}
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					p.Outcome = ledger.Unknown
					errs = append(errs, fmt.Errorf("record %s: %w", v, err))
				} else {
					acked++
				}
				h.Publish(p)
			})
			if i%20 == 0 {
				time.Sleep(5 * time.Millisecond)
			}
			if i == n/2 && during != nil {
				during()
			}
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	leaderIs := func(want func(uint64) bool, on uint64) (leader uint64) {
		t.Helper()
		c.eventually(30*time.Second, "a new leader of partition 0", func() bool {
			for _, p := range c.topic(on, topic).PartitionInfo {
				if p.Partition == 0 && p.Leader != 0 && want(p.Leader) {
					leader = p.Leader
					return true
				}
			}
			return false
		})
		return leader
	}
	survivor := victim%3 + 1

	produce(500, nil)
	for kill := range 3 {
		produce(1000, func() { c.procs[victim].Kill() })
		next := leaderIs(func(l uint64) bool { return l != victim }, survivor)
		t.Logf("kill %d: node %d SIGKILLed, node %d leads", kill+1, victim, next)
		produce(500, nil)
		// The preferred replica takes its partition back once it is
		// alive again.
		c.restart(victim)
		leaderIs(func(l uint64) bool { return l == victim }, survivor)
		produce(500, nil)
	}

	mu.Lock()
	if n := dataLoss.Load(); n > 0 {
		t.Errorf("kgo was refused OUT_OF_ORDER_SEQUENCE %d times (data loss detected)", n)
	}
	if len(errs) > 0 {
		t.Fatalf("%d of %d records failed; first: %v", len(errs), sent, errs[0])
	}
	if acked != sent {
		t.Fatalf("%d of %d records acknowledged", acked, sent)
	}
	mu.Unlock()

	reader, err := client.New(c.procs[survivor].URL)
	if err != nil {
		t.Fatal(err)
	}
	msgs := readPartition(t, reader, topic, 0)
	for _, m := range msgs {
		h.Read(ledger.Read{Reader: "fetch", Session: "fetch", Partition: 0, Offset: m.Offset, Value: string(m.Value)})
	}
	if res := ledger.Check(&h); !res.OK() {
		t.Fatalf("%d records read back:\n%v", len(msgs), res)
	}
	if len(msgs) != sent {
		t.Fatalf("%d records stored, %d produced", len(msgs), sent)
	}

	c.eventually(30*time.Second, "the kgo consumer to read every record", func() bool {
		consumedMu.Lock()
		defer consumedMu.Unlock()
		return len(consumed) >= sent
	})
	stopConsumer()
	<-consumerDone
	for i, off := range consumed {
		if off != int64(i) {
			t.Fatalf("the kgo consumer's record %d was offset %d (%d read in all, %d produced): read twice, skipped or reset",
				i, off, len(consumed), sent)
		}
	}
}
