package node

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/abd-ulbasit/goqueue/api"
)

// A node that was down while a topic was deleted applies the deletion
// when it catches up, then removes its copy. In between, the copy is
// still the cluster's (Placement names it, so the broker never takes it
// for a topic of its own) and is not served: a write is refused as
// retriable.
func TestDeletedWhileDownStaysTheClusters(t *testing.T) {
	defer goleak.VerifyNone(t)
	c, ctx, old, stop := withTopic(t, 3)
	defer stop()
	c.appendAll(ctx, old.Partitions[0].Group, vals("a", 3)...)
	c.converged(ctx, vals("a", 3))

	const down = 2
	c.stop(down)
	if err := c.nodes[0].DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	c.removing[down] = make(chan chan struct{})
	c.start(down)
	nd := c.nodes[down]
	var goAhead chan struct{}
	select {
	case goAhead = <-c.removing[down]:
	case <-ctx.Done():
		t.Fatal("the restarted node never removed the deleted topic")
	}
	released := false
	release := func() {
		if !released {
			released = true
			close(goAhead)
		}
	}
	defer release() // before stopAll: the node's reconciler waits on it
	// Held between applying the deletion and removing the copy.
	if _, inMeta := nd.meta.Topic("t"); inMeta {
		t.Fatal("removing a topic the metadata still holds")
	}
	if tp, ok := nd.Placement("t"); !ok || tp.ID != old.ID || len(tp.Partitions) != 1 {
		t.Fatalf("Placement of the stale copy: %+v %v, want the deleted topic (the cluster's, not a local one)", tp, ok)
	}
	if nd.Serves("t") {
		t.Fatal("the node serves its copy of a deleted topic")
	}
	if _, err := nd.AppendPartition(ctx, "t", 0, batch("x")); !errors.Is(err, ErrNotServing) {
		t.Fatalf("append to the stale copy: %v, want ErrNotServing", err)
	}
	release()
	c.removing[down] = nil
	for {
		if _, ok := nd.Placement("t"); !ok {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the stale copy was never forgotten")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A node restarted alone holds metadata that may be older than the
// cluster's: here it still names a topic deleted while the node was down,
// as the incarnation this node made, whose only replica it is. It must
// not serve that copy (it would elect itself and acknowledge writes to a
// topic nobody will ever read) until it has confirmed its metadata current.
func TestRestartedAloneServesNothing(t *testing.T) {
	defer goleak.VerifyNone(t)
	c, ctx, tp, stop := withTopic(t, 1)
	defer stop()
	r := int(tp.Partitions[0].Replicas[0]) - 1
	for {
		if _, err := c.nodes[r].AppendPartition(ctx, "t", 0, batch("a")); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the topic's only replica never took a write")
		case <-time.After(20 * time.Millisecond):
		}
	}
	c.stop(r)
	other := (r + 1) % 3
	if err := c.nodes[other].DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	c.stopAll()
	c.start(r)
	nd := c.nodes[r]
	if _, ok := nd.Placement("t"); !ok {
		t.Fatal("the replayed metadata does not name the topic")
	}
	// Without its peers the node cannot learn of the deletion; for as
	// long as that lasts it must refuse.
	until := time.Now().Add(3 * time.Second)
	for time.Now().Before(until) {
		_, err := nd.AppendPartition(ctx, "t", 0, batch("lost"))
		if err == nil {
			t.Fatal("a node restarted alone acknowledged a write to a topic deleted while it was down")
		}
		if !errors.Is(err, ErrNotServing) {
			t.Fatalf("append: %v, want ErrNotServing", err)
		}
		if nd.Serves("t") {
			t.Fatal("serves a topic before its metadata was confirmed current")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A topic or partition is confirmed absent only by a consistent read of
// the metadata without it; one the metadata has is not. A read point of
// one this node lacks names it, for the caller to confirm; a listing waits
// until the broker holds every topic (TopicsCurrent).
func TestConfirmAbsent(t *testing.T) {
	c, ctx, tp, stop := withTopic(t, 3)
	defer stop()
	n := int32(len(tp.Partitions))
	for _, tc := range []struct {
		topic     string
		partition int32
		absent    bool
	}{
		{"ghost", -1, true},
		{"ghost", 0, true},
		{"t", -1, false},
		{"t", 0, false},
		{"t", n - 1, false},
		{"t", n, true},
	} {
		err := c.nodes[1].ConfirmAbsent(ctx, tc.topic, tc.partition)
		if tc.absent && err != nil || !tc.absent && !errors.Is(err, api.ErrUnavailable) {
			t.Errorf("%s partition %d: %v, want absent %v (else UNAVAILABLE)", tc.topic, tc.partition, err, tc.absent)
		}
	}
	// Every node holds the topic once TopicsCurrent returns.
	for i, nd := range c.nodes {
		if err := nd.TopicsCurrent(ctx); err != nil {
			t.Fatalf("node %d: TopicsCurrent: %v", i+1, err)
		}
		if !nd.Serves("t") {
			t.Fatalf("node %d: TopicsCurrent returned before its broker held t", i+1)
		}
	}
	// A read point of a partition this node's applied metadata lacks
	// names it, so that httpapi can have it confirmed: the node may be
	// behind (partitions just added).
	for _, tc := range []struct {
		topic     string
		partition int32
		want      *api.Error
	}{{"ghost", 0, api.ErrTopicNotFound}, {"t", n, api.ErrPartitionNotFound}} {
		var ae *api.Error
		err := c.nodes[1].ReadPartition(ctx, tc.topic, tc.partition)
		if !errors.As(err, &ae) || ae.Code != tc.want.Code || ae.Details["topic"] != tc.topic {
			t.Errorf("read point of %s/%d: %v, want %s naming the topic", tc.topic, tc.partition, err, tc.want.Code)
		}
	}
}
