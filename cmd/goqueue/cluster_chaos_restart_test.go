package main

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/cluster/ledger"
)

// A node restarted on its disk must not take a publish of a replicated
// topic before it knows the topic is replicated: its broker opens the
// topic's local copy from disk at once, but the metadata naming the topic
// (and its partitions' Raft groups) is applied only once the node runs. A
// publish served in between was appended to the local copy alone and
// acknowledged, then cut off by the partition's state machine restoring
// its log from Raft: an acknowledged message on no replica (issue 15,
// "lost p1@255" in a chaos run). Publishers hammer the node while it
// restarts; the ledger must find every acknowledged value.
func TestBinaryClusterRestartTakesNoLocalPublish(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c, load := startChaos(t, chaosReplicationFactor)
	ctx, stop := context.WithTimeout(t.Context(), 2*time.Second)
	var wg sync.WaitGroup
	for p := range int32(load.parts) {
		wg.Go(func() { load.produce(ctx, p) })
	}
	wg.Wait()
	stop()

	// The window is short (from the listener's first answer to the
	// metadata's replay): several restarts, several publishers each.
	const victim, restarts, publishers = 2, 3, 3
	for range restarts {
		c.procs[victim].Kill()
		hammer, stopHammer := context.WithCancel(t.Context())
		for k := range publishers * load.parts {
			p := int32(k % load.parts)
			wg.Go(func() {
				for hammer.Err() == nil {
					if load.publish(hammer, victim, p).Outcome != ledger.Acked {
						sleepCtx(hammer, time.Millisecond)
					}
				}
			})
		}
		c.restartOn(victim, c.procs[victim].Dir)
		time.Sleep(500 * time.Millisecond)
		stopHammer()
		wg.Wait()
	}

	c.agree([]uint64{1, 2, 3}, 0, map[uint64]uint64{}, 30*time.Second)
	var tp api.Topic
	c.eventually(30*time.Second, "the leaders node 1 names serve reads", func() bool {
		tp = api.Topic{}
		if c.do(1, "GET", "/topics/"+load.topic, "", &tp) != http.StatusOK {
			return false
		}
		for _, pi := range tp.PartitionInfo {
			// The leader node 1 names may not know it yet.
			if _, _, err := load.readAll(t.Context(), pi.Leader, pi.Partition); pi.Leader == 0 || err != nil {
				return false
			}
		}
		return len(tp.PartitionInfo) == load.parts
	})
	load.finalRead(t.Context(), t, tp)
	counts := load.hist.Counts()
	res := ledger.Check(load.hist)
	t.Logf("%d publishes acked, %d failed, %d unknown; verdict: %s", counts.Acked, counts.Failed, counts.Unknown, res)
	if !res.OK() || res.Unverified != 0 {
		t.Errorf("the ledger: %s; %d acked values unverified", res, res.Unverified)
	}
}
