package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
)

// recorded waits until every running node's metadata records partition 0
// of "t" as ok says, and returns the record.
func (c *replicaCluster) recorded(ctx context.Context, what string, ok func(meta.Partition) bool) meta.Partition {
	c.t.Helper()
	for {
		var seen []string
		var last meta.Partition
		all := true
		for i, nd := range c.nodes {
			if c.stops[i] == nil {
				continue
			}
			tp, found := nd.meta.Topic("t")
			if !found {
				all = false
				continue
			}
			last = tp.Partitions[0]
			seen = append(seen, fmt.Sprintf("node %d: leader %d epoch %d isr %v", i+1, last.Leader, last.LeaderEpoch, last.ISR))
			all = all && ok(last)
		}
		if all {
			return last
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("never recorded %s: %v", what, seen)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// The leader of a partition reports to the metadata: every node records
// the leader Raft elected, its term and the in-sync replicas. A follower
// that stops leaves the ISR on every node's record (and in the leader's
// view), and comes back once restarted and caught up.
func TestLeadersAndISRRecorded(t *testing.T) {
	defer goleak.VerifyNone(t)
	c, ctx, tp, stop := withTopic(t, 3)
	defer stop()
	group := tp.Partitions[0].Group
	c.appendAll(ctx, group, "a")
	full := func(p meta.Partition) bool {
		nd := c.nodes[c.leader(ctx, group)]
		nd.pmu.Lock()
		st := nd.leaders[group]
		nd.pmu.Unlock()
		return p.Leader == st.Leader && p.LeaderEpoch == st.Term && slices.Equal(p.ISR, p.Replicas)
	}
	c.recorded(ctx, "the leader with every replica in sync", full)

	l := c.leader(ctx, group)
	f := (l + 1) % 3
	c.stop(f)
	c.appendAll(ctx, group, "b")
	p := c.recorded(ctx, fmt.Sprintf("node %d out of the ISR", f+1), func(p meta.Partition) bool {
		return len(p.ISR) == 2 && !slices.Contains(p.ISR, uint64(f+1)) && p.Leader != uint64(f+1) && p.Leader != 0
	})
	if _, _, isr := c.nodes[p.Leader-1].PartitionView(p); slices.Contains(isr, uint64(f+1)) {
		t.Fatalf("leader's view %v still holds the stopped node %d", isr, f+1)
	}
	c.start(f)
	c.recorded(ctx, "every replica back in sync", full)
}

// Deleting a topic stops its groups on every node and removes their Raft
// state and the local copy; a node that was down meanwhile drops its
// stale copy when it comes back. The topic created again under its name
// has a new ID and a new group, and holds only what was written to it.
func TestDeleteAndRecreateTopic(t *testing.T) {
	defer goleak.VerifyNone(t)
	c, ctx, old, stop := withTopic(t, 3)
	defer stop()
	og := old.Partitions[0].Group
	c.appendAll(ctx, og, vals("a", 5)...)
	c.converged(ctx, vals("a", 5))

	l := c.leader(ctx, og)
	down := (l + 1) % 3
	c.stop(down)
	if err := c.nodes[l].DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[l].DeleteTopic(ctx, "t"); !errors.Is(err, meta.ErrUnknownTopic) {
		t.Fatalf("deleting again: %v", err)
	}
	gone := func(i int, group uint64) error {
		if c.sinks[i].log("t-0") != nil {
			return fmt.Errorf("node %d still has the log", i+1)
		}
		if _, err := os.Stat(filepath.Join(c.dirs[i], "cluster", fmt.Sprintf("g%d", group))); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("node %d: group %d's Raft state: %v", i+1, group, err)
		}
		if _, ok := c.nodes[i].locals.get("t"); ok {
			return fmt.Errorf("node %d still records the topic", i+1)
		}
		return nil
	}
	if err := gone(l, og); err != nil {
		t.Fatalf("after DeleteTopic returned: %v", err)
	}
	// The other running node removes it when it applies the deletion.
	other := 3 - l - down
	for err := gone(other, og); err != nil; err = gone(other, og) {
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	again, err := c.nodes[other].CreateTopic(ctx, "t", 1, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	ng := again.Partitions[0].Group
	if again.ID == old.ID || ng == og {
		t.Fatalf("recreated topic reuses ID or group: %+v vs %+v", again, old)
	}
	c.appendAll(ctx, ng, vals("b", 3)...)
	c.start(down)
	c.converged(ctx, vals("b", 3))
	// Its log holds only the new incarnation's records (converged), and
	// the old group's Raft state is gone.
	if _, err := os.Stat(filepath.Join(c.dirs[down], "cluster", fmt.Sprintf("g%d", og))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("node %d kept group %d's Raft state: %v", down+1, og, err)
	}
	if rec, ok := c.nodes[down].locals.get("t"); !ok || rec.ID != again.ID {
		t.Fatalf("node %d records %+v, want the new incarnation", down+1, rec)
	}
}
