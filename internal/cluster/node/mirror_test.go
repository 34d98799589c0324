package node

import (
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// A node that holds no replica of a partition keeps a mirror of its log:
// the same batches at the same offsets, byte for byte, following appends
// as they come; the topic's deletion stops it and removes the copy.
func TestMirrorOfAPartitionNotReplicated(t *testing.T) {
	defer goleak.VerifyNone(t)
	c, ctx, tp, stop := withTopic(t, 2)
	defer stop()
	p := tp.Partitions[0]
	out := -1
	for i := range 3 {
		if !slices.Contains(p.Replicas, uint64(i+1)) {
			out = i
		}
	}
	acked := vals("a", 20)
	c.appendAll(ctx, p.Group, acked...)
	c.converged(ctx, acked) // every running node's log, the mirror's included
	if !c.nodes[out].Mirrors("t", 0) || c.nodes[p.Replicas[0]-1].Mirrors("t", 0) {
		t.Fatalf("node %d (no replica) mirrors: %v; node %d (a replica) mirrors: %v", out+1, c.nodes[out].Mirrors("t", 0),
			p.Replicas[0], c.nodes[p.Replicas[0]-1].Mirrors("t", 0))
	}
	more := vals("b", 5)
	c.appendAll(ctx, p.Group, more...)
	c.converged(ctx, append(acked, more...))

	// Restarted, the mirror shows its copy again before anything new is
	// written: its log opens held (nothing shown) as a replica's does,
	// and a mirror holds only committed batches.
	c.stop(out)
	c.start(out)
	c.converged(ctx, append(acked, more...))

	// A read of the mirror (a DLQ replay's, an offsets reset's) waits
	// until it holds every write acknowledged before: it asks a replica
	// for its read point. (Before, ReadPartition asked this node's own
	// Raft group of the partition, which it does not run: UNAVAILABLE.)
	late := vals("c", 5)
	c.appendAll(ctx, p.Group, late...)
	if err := c.nodes[out].ReadPartition(ctx, "t", 0); err != nil {
		t.Fatalf("read of node %d's mirror: %v", out+1, err)
	}
	if got, want := c.sinks[out].log("t-0").NextOffset(), int64(len(acked)+len(more)+len(late)); got < want {
		t.Fatalf("node %d's mirror holds %d records once read, want %d", out+1, got, want)
	}

	if err := c.nodes[out].DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	for c.nodes[out].Mirrors("t", 0) || c.sinks[out].log("t-0") != nil {
		select {
		case <-ctx.Done():
			t.Fatal("the deleted topic's mirror still runs, or its copy is still open")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
