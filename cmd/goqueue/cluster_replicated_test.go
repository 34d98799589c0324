package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// A topic with three replicas (the default in a 3-node cluster) survives
// the SIGKILL of a partition's leader while a producer sends to it: a
// survivor takes over, every acknowledged record is on the partition once,
// at the offset its callback gave, in publish order; the killed node,
// restarted on its disk, catches up and gets its leadership back (it is
// the preferred replica); and all three copies of every partition are
// byte for byte the same up to the high watermark.
func TestBinaryClusterReplicatedFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	replicatedFailover(t, startClusterProcs(t, 3))
}

// replicatedFailover is TestBinaryClusterReplicatedFailover on the three
// nodes of c, just started.
func replicatedFailover(t *testing.T, c *clusterProcs) {
	const topic, parts = "rf3", 3
	const plainValue = 1_000_000 // the plain publishes' values, above every record's index
	c.agree([]uint64{1, 2, 3}, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	var refused api.ErrorBody
	if st := c.do(1, "POST", "/topics", `{"name":"toomany","replication_factor":4}`, &refused); st != http.StatusBadRequest || refused.Error.Code != api.ErrInvalidArgument.Code {
		t.Fatalf("replication factor 4 on 3 nodes: %d %+v", st, refused.Error)
	}
	var created api.Topic
	if st := c.do(1, "POST", "/topics", fmt.Sprintf(`{"name":%q,"partitions":%d}`, topic, parts), &created); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	for _, p := range created.PartitionInfo {
		if len(p.Replicas) != 3 || p.Leader == 0 || p.LeaderEpoch == 0 {
			t.Fatalf("partition %d: replicas %v, leader %d, epoch %d; want 3 replicas and a leader", p.Partition, p.Replicas, p.Leader, p.LeaderEpoch)
		}
	}
	victim := created.PartitionInfo[0].Leader
	var brokers []string
	for id := uint64(1); id <= 3; id++ {
		brokers = append(brokers, c.procs[id].URL)
	}

	type sent struct {
		at        client.Position
		err       error
		cbs       int
		sent, ack time.Time
	}
	var mu sync.Mutex
	recs := map[int]*sent{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// One producer lives through every round: it follows each failover.
	p, err := client.NewProducer(&client.ProducerConfig{Brokers: brokers, HTTPClient: c.hc})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := client.NewWithConfig(&client.Config{Brokers: brokers, HTTPClient: c.hc})
	if err != nil {
		t.Fatal(err)
	}
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			part := int32(i % parts)
			s := &sent{sent: time.Now()}
			mu.Lock()
			recs[i] = s
			mu.Unlock()
			p.PublishAsync(ctx, topic, &client.Record{Value: []byte(strconv.Itoa(i)), Partition: &part}, func(at client.Position, err error) {
				mu.Lock()
				defer mu.Unlock()
				s.at, s.err, s.ack = at, err, time.Now()
				s.cbs++
			})
			if i%20 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
		}
	}
	// Each round SIGKILLs the current leader of partition 0 and produces
	// until partition 0 acknowledges a write again; the victim restarts
	// before the next round (GOQUEUE_CLUSTER_LONG=1: 4 rounds).
	rounds := 1
	if os.Getenv("GOQUEUE_CLUSTER_LONG") != "" {
		rounds = 4
	}
	produce(0, 1500)
	next := 1500
	for round := range rounds {
		if round > 0 {
			c.restart(victim)
			victim = 0
			c.eventually(30*time.Second, "a leader of partition 0", func() bool {
				victim = c.topic(victim%3+1, topic).PartitionInfo[0].Leader
				return victim != 0
			})
		}
		killed := time.Now()
		c.procs[victim].Kill()
		// A plain publish (no Producer and its own retries) sent at the
		// kill waits the election out: it failed after the transport's
		// quick tries (0.75 s) before. Its value is no record's index.
		plain := make(chan error, 1)
		go func() {
			zero := int32(0)
			_, err := admin.Publish(ctx, topic, api.PublishMessage{ValueBase64: []byte(strconv.Itoa(plainValue + round)), Partition: &zero})
			if err == nil {
				t.Logf("round %d: a plain publish to partition 0 acknowledged %v after the SIGKILL", round+1, time.Since(killed).Round(time.Millisecond))
			}
			plain <- err
		}()
		var failover time.Duration
		for failover == 0 {
			if time.Since(killed) > 30*time.Second {
				t.Fatal("partition 0 took no acknowledged write within 30 s of its leader's SIGKILL")
			}
			produce(next, next+150)
			next += 150
			mu.Lock()
			for _, s := range recs {
				if s.err == nil && s.cbs == 1 && s.at.Partition == 0 && s.sent.After(killed) && (failover == 0 || s.ack.Sub(killed) < failover) {
					failover = s.ack.Sub(killed)
				}
			}
			mu.Unlock()
		}
		produce(next, next+1500)
		next += 1500
		t.Logf("round %d: node %d (leader of partition 0) SIGKILLed; first acknowledged write to partition 0 %v later", round+1, victim, failover.Round(time.Millisecond))
		if err := <-plain; err != nil {
			t.Fatalf("round %d: a plain publish to partition 0 sent at its leader's SIGKILL: %v", round+1, err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	// Every acknowledged record is once on its partition, where its
	// callback said, in publish order (read from the new leaders).
	var survivor uint64 = victim%3 + 1
	cl, err := client.NewWithConfig(&client.Config{Brokers: []string{c.procs[survivor].URL}, HTTPClient: c.hc})
	if err != nil {
		t.Fatal(err)
	}
	acked, failed := 0, 0
	at := map[client.Position]int{}
	count := map[int]int{}
	for part := int32(0); part < parts; part++ {
		last := -1
		for _, m := range readPartition(t, cl, topic, part) {
			i, err := strconv.Atoi(string(m.Value))
			if err != nil {
				t.Fatalf("partition %d offset %d: %q", part, m.Offset, m.Value)
			}
			at[client.Position{Partition: part, Offset: m.Offset}] = i
			count[i]++
			if i >= plainValue {
				continue // a plain publish: not in the producer's order
			}
			if i <= last {
				t.Logf("partition %d: record %d at offset %d after record %d (a retried unacknowledged write?)", part, i, m.Offset, last)
			}
			last = max(last, i)
		}
	}
	lastAcked := map[int32]int{}
	for i := range next {
		s := recs[i]
		if s.cbs != 1 {
			t.Fatalf("record %d: %d callbacks", i, s.cbs)
		}
		if s.err != nil {
			failed++
			continue
		}
		acked++
		if got, ok := at[s.at]; !ok || got != i {
			t.Fatalf("record %d acknowledged at %+v, which holds %d (present: %v)", i, s.at, got, ok)
		}
		if count[i] != 1 {
			t.Fatalf("acknowledged record %d is stored %d times", i, count[i])
		}
		if prev, ok := lastAcked[s.at.Partition]; ok && s.at.Offset <= int64(recs[prev].at.Offset) {
			t.Fatalf("acknowledged record %d at %+v is not after record %d at %+v", i, s.at, prev, recs[prev].at)
		}
		lastAcked[s.at.Partition] = i
	}
	t.Logf("%d records acknowledged, %d failed (in flight to the killed leader)", acked, failed)

	// The killed node restarts on its disk and catches up; then every copy
	// of every partition is the same, byte for byte.
	c.restart(victim)
	want := map[int32]int64{}
	for part := int32(0); part < parts; part++ {
		want[part] = int64(0)
		for pos := range at {
			if pos.Partition == part {
				want[part] = max(want[part], pos.Offset+1)
			}
		}
	}
	for id := uint64(1); id <= 3; id++ {
		c.eventually(30*time.Second, fmt.Sprintf("node %d's copies reach the high watermarks %v", id, want), func() bool {
			for _, p := range c.topic(id, topic).PartitionInfo {
				if p.HighWatermark != want[p.Partition] {
					return false
				}
			}
			return true
		})
	}
	// The preferred replica gets its leadership back once it is alive and
	// caught up, so leaders stay spread over the nodes.
	preferred := created.PartitionInfo[0].Leader
	c.eventually(30*time.Second, fmt.Sprintf("node %d leads partition 0 again", preferred), func() bool {
		p := c.topic(preferred, topic).PartitionInfo[0]
		return p.Leader == preferred && p.LeaderEpoch > created.PartitionInfo[0].LeaderEpoch
	})
	for id := uint64(1); id <= 3; id++ {
		if err := c.procs[id].Stop(); err != nil {
			t.Fatalf("stop node %d: %v", id, err)
		}
	}
	for part := int32(0); part < parts; part++ {
		var first []byte
		for id := uint64(1); id <= 3; id++ {
			b := storedBytes(t, filepath.Join(c.procs[id].Dir, "topics", topic, strconv.Itoa(int(part))))
			if first == nil {
				first = b
				continue
			}
			if !bytes.Equal(b, first) {
				t.Fatalf("partition %d: node %d's copy (%d bytes) differs from node 1's (%d bytes)", part, id, len(b), len(first))
			}
		}
		if len(first) == 0 {
			t.Fatalf("partition %d is empty", part)
		}
	}
}

// storedBytes is every stored batch of the partition log in dir.
func storedBytes(t *testing.T, dir string) []byte {
	t.Helper()
	l, err := commitlog.Open(dir, commitlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err := l.ReadBatches(0, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
