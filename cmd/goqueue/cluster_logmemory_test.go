package main

import (
	"context"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/bench"
)

// logMemPartitionsEnv sets how many partitions TestBinaryClusterLogMemory
// writes to (default 24).
const logMemPartitionsEnv = "GOQUEUE_LOGMEM_PARTITIONS"

// Three nodes take 24 MiB into each of 24 partitions (replication factor
// 3) at full speed, and each node's resident memory stays within what the
// node-wide bound on Raft logs allows, however many partitions are busy.
// Each partition's group kept up to 20 MiB of its log in memory (its 16
// MiB snapshot's worth and a quarter behind it): every node peaked at
// 551-616 MiB here, 1.3-1.5 GiB with 48 partitions. Bounded together
// (multiraft.Config.MaxLogBytes, 64 MiB), 170-179 MiB with 24 or 48, and
// 195-227 MiB with a follower paused for 5 s meanwhile. Figures are
// logged; GOQUEUE_LOGMEM_PARTITIONS sets the partitions.
func TestBinaryClusterLogMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	parts := envCount(t, logMemPartitionsEnv, 24)
	c := startLoadedCluster(t, "wide", parts)
	total := parts * 24 << 10 // records of 1 KiB: 24 MiB a partition
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if err := c.publish(ctx, total); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d MiB to %d partitions in %v", total>>10, parts, time.Since(start).Round(time.Millisecond))
	for _, id := range []uint64{1, 2, 3} {
		m, err := bench.ReadMemory(c.procs[id].Pid())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("node %d: peak resident %d MiB, now %d MiB", id, m.Peak>>10, m.RSS>>10)
		// Twice (GOGC=100 lets the heap grow to twice what is live) the
		// logs' bound, two followers' 8 MiB of appends in flight, and the
		// process itself with its buffers (a single broker under load
		// peaks at 50-74 MiB).
		if limit := int64(2*(64+2*8+56)) << 10; m.Peak > limit {
			t.Errorf("node %d's peak resident memory is %d MiB, above its bound of %d MiB", id, m.Peak>>10, limit>>10)
		}
	}
}
