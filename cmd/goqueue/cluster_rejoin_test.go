package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/cluster/ledger"
)

// Three real goqueue processes take acknowledged publishes (fsync=always,
// replication factor 3) without pause while two nodes in turn are
// SIGKILLed and restarted on an empty data directory: a disk lost and
// replaced. Each one rejoins on its own — a new replica generation that
// the groups' leaders add, catch up and promote — and catches up the
// metadata (the topic exists on it, every node agrees on the leader) and
// every partition (its copy reaches what the leader had acknowledged when
// it came back). The second wipe is survivable only if the first node came
// back as a voter: with it still a learner, two of the three voters would
// be gone. At the end the replicas are compared with each other byte for
// byte up to the high watermark and the ledger checked: nothing
// acknowledged lost, no offset with two values, no gap.
func TestBinaryClusterRejoinsAfterLosingADisk(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c, load := startChaos(t, 3)
	all := []uint64{1, 2, 3}
	ctx, stopLoad := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for p := range int32(load.parts) {
		wg.Go(func() { load.produce(ctx, p) })
	}
	defer func() { stopLoad(); wg.Wait() }()
	time.Sleep(2 * time.Second)

	first := load.leader(0) // a partition leader: its partitions move first
	second := first%3 + 1
	for _, victim := range []uint64{first, second} {
		c.procs[victim].Kill()
		time.Sleep(500 * time.Millisecond) // publishes go on without it
		restarted := time.Now()
		c.restartOn(victim, filepath.Join(t.TempDir(), "data"))
		// What it must catch up to: what the others hold now (the
		// higher of their high watermarks is the leader's).
		target := map[int32]int64{}
		for _, id := range all {
			if id == victim {
				continue
			}
			for _, pi := range c.topic(id, load.topic).PartitionInfo {
				target[pi.Partition] = max(target[pi.Partition], pi.HighWatermark)
			}
		}
		c.agree(all, 0, map[uint64]uint64{}, 30*time.Second)
		c.topic(victim, load.topic)
		metaAt := time.Since(restarted)
		c.eventually(60*time.Second, fmt.Sprintf("node %d's partitions reach %v", victim, target), func() bool {
			tp := c.topic(victim, load.topic)
			for p, hwm := range target {
				if tp.PartitionInfo[p].HighWatermark < hwm {
					return false
				}
			}
			return true
		})
		partsAt := time.Since(restarted)
		c.eventually(60*time.Second, fmt.Sprintf("node %d a voter of every group again", victim), func() bool {
			return strings.Contains(c.procs[victim].Log(), "cluster: rejoined")
		})
		t.Logf("node %d wiped and restarted: metadata caught up after %v, partitions after %v, a voter of every group after %v",
			victim, metaAt.Round(time.Millisecond), partsAt.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
	}
	time.Sleep(time.Second) // publishes to the cluster as it is now
	stopLoad()
	wg.Wait()

	c.agree(all, 0, map[uint64]uint64{}, 30*time.Second)
	var tp api.Topic
	if c.do(1, "GET", "/topics/chaos", "", &tp) != http.StatusOK || len(tp.PartitionInfo) != load.parts {
		t.Fatalf("topic after the rejoins: %+v", tp)
	}
	final := load.finalRead(t.Context(), t, tp)
	compared := compareReplicas(t, c, tp, final)
	counts := load.hist.Counts()
	res := ledger.Check(load.hist)
	t.Logf("%d publishes acked, %d failed, %d unknown; high watermarks %v; %d other replicas compared; verdict: %s",
		counts.Acked, counts.Failed, counts.Unknown, final, compared, res)
	if !res.OK() || res.Unverified != 0 {
		t.Errorf("the ledger: %s; %d acked values unverified", res, res.Unverified)
	}
	if counts.Acked == 0 || compared != 2*load.parts {
		t.Errorf("%d acked, %d replicas compared: the run proved nothing", counts.Acked, compared)
	}
}
