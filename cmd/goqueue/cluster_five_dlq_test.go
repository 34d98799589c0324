package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// On five nodes a DLQ of replication factor 3 has nodes that hold no
// replica of its partition; a replay asked of one of them reads the DLQ
// from its mirror, once current, and replays every dead letter. Two
// replays asked of two nodes at once replay each dead letter once between
// them: the second is refused REPLAY_IN_PROGRESS, or runs after the first
// and skips what it replayed. (Before, the node with no replica answered
// UNAVAILABLE, and two replays at once both replayed every message.)
// A group's reset on such a node reads the partition's end there once
// current too.
func TestBinaryClusterFiveNodesDLQReplayOnceFromAnyNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := startClusterProcs(t, 5)
	ids := []uint64{1, 2, 3, 4, 5}
	c.agree(ids, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1, 4: 1, 5: 1}, 60*time.Second)
	const src, n = "fdl", 6
	if st := c.do(1, "POST", "/topics", `{"name":"fdl","partitions":1}`, nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	var brokers []string
	for _, id := range ids {
		brokers = append(brokers, c.procs[id].URL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := client.NewProducer(&client.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range n {
		if _, err := p.Publish(ctx, src, &client.Record{Value: fmt.Appendf(nil, "v%d", i)}); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	cons, err := client.NewConsumer(&client.ConsumerConfig{Brokers: brokers, GroupID: "fdl-g", Topics: []string{src},
		PollWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for got := 0; got < n; {
		msgs, err := cons.Poll(ctx, 100)
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		for _, m := range msgs {
			if err := cons.NackWith(m, client.NackOptions{Reason: "bad"}); err != nil {
				t.Fatal(err)
			}
			got++
		}
	}
	if err := cons.CommitContext(ctx); err != nil {
		t.Fatalf("settling: %v", err)
	}
	dlq := api.DLQName(src)
	var ct api.ClusterTopic
	c.eventually(30*time.Second, "the DLQ holds every dead letter", func() bool {
		var ok bool
		ct, ok = c.clusterTopicOn(1, dlq)
		if !ok || len(ct.Partitions) != 1 || ct.Partitions[0].Leader == 0 {
			return false
		}
		var tp api.Topic
		return c.do(ct.Partitions[0].Leader, "GET", "/topics/"+dlq, "", &tp) == http.StatusOK &&
			len(tp.PartitionInfo) == 1 && tp.PartitionInfo[0].HighWatermark == n
	})
	var outside []uint64
	for _, id := range ids {
		if !slices.Contains(ct.Partitions[0].Replicas, id) {
			outside = append(outside, id)
		}
	}
	if len(outside) != 2 {
		t.Fatalf("the DLQ's replicas %v leave %v", ct.Partitions[0].Replicas, outside)
	}

	var wg sync.WaitGroup
	var sts [2]int
	var rrs [2]api.DLQReplayResponse
	for i, id := range outside {
		wg.Go(func() { sts[i] = c.do(id, "POST", "/topics/"+src+"/dlq/replay", `{}`, &rrs[i]) })
	}
	wg.Wait()
	replayed := 0
	for i, id := range outside {
		if sts[i] != http.StatusOK && sts[i] != http.StatusConflict {
			t.Fatalf("replay on node %d, no replica of the DLQ: %d", id, sts[i])
		}
		replayed += rrs[i].Replayed
	}
	if replayed != n {
		t.Fatalf("two replays at once replayed %d and %d (answered %v), want %d between them", rrs[0].Replayed, rrs[1].Replayed, sts, n)
	}
	var rr api.DLQReplayResponse
	if st := c.do(outside[0], "POST", "/topics/"+src+"/dlq/replay", `{}`, &rr); st != http.StatusOK || rr.Replayed != 0 || rr.Skipped != n {
		t.Fatalf("a third replay: %d %+v, want every dead letter skipped", st, rr)
	}

	// A reset to latest on a coordinator holding no replica of the topic
	// (its mirror lags the leader) passes every message published before
	// it. (Before, it read the mirror as it was: the group stopped short
	// of messages just acknowledged, and consumed them again.)
	srcTopic, _ := c.clusterTopicOn(1, src)
	var group string
	var mirror uint64
	for i := 0; mirror == 0; i++ {
		if i == 100 {
			t.Fatalf("no group of 100 is coordinated by a node outside %s's replicas %v", src, srcTopic.Partitions[0].Replicas)
		}
		group = fmt.Sprintf("fdl-reset-%d", i)
		if co := c.coordinatorOf(1, group); co != 0 && !slices.Contains(srcTopic.Partitions[0].Replicas, co) {
			mirror = co
		}
	}
	for round := range 5 {
		res, err := p.Publish(ctx, src, &client.Record{Value: fmt.Appendf(nil, "r%d", round)})
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		var rs api.ResetOffsetsResponse
		if st := c.do(mirror, "POST", "/groups/"+group+"/offsets/reset", `{"to":"latest","topics":["fdl"]}`, &rs); st != http.StatusOK ||
			rs.Offsets[src][0] != res.Offset+1 {
			t.Fatalf("round %d: reset to latest on node %d just after a message at offset %d: %d %+v", round, mirror, res.Offset, st, rs)
		}
	}
}
