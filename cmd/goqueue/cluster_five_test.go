package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// On five nodes a topic of replication factor 3 leaves every node without
// a replica of some of its partitions. A group's coordinator mirrors
// those (node.Mirrors), so a group of HTTP members consumes every message
// of every partition, whichever node coordinates it, and its lag is true.
// Every node lists the group. (Before, the coordinator's copy of a
// partition it held no replica of stayed empty: its members were handed
// the partition and got nothing from it — a group consumed 26 of 50
// messages — and GET /groups said lag 0; only the coordinator listed the
// group.) The coordinator's death moves the group for every node.
func TestBinaryClusterFiveNodesGroupReadsEveryPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := startClusterProcs(t, 5)
	ids := []uint64{1, 2, 3, 4, 5}
	c.agree(ids, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1, 4: 1, 5: 1}, 60*time.Second)
	const topic, n = "five", 50
	var tp api.Topic
	if st := c.do(1, "POST", "/topics", `{"name":"five","partitions":5}`, &tp); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	var brokers []string
	for _, id := range ids {
		brokers = append(brokers, c.procs[id].URL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	p, err := client.NewProducer(&client.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range n {
		if _, err := p.Publish(ctx, topic, &client.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}

	cons, err := client.NewConsumer(&client.ConsumerConfig{Brokers: brokers, GroupID: "five-g", Topics: []string{topic},
		PollWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := map[string]bool{}
	for len(got) < n {
		msgs, err := cons.Poll(ctx, 100)
		if err != nil {
			t.Fatalf("poll, %d of %d consumed: %v", len(got), n, err)
		}
		for _, m := range msgs {
			got[string(m.Value)] = true
			if err := cons.Ack(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cons.CommitContext(ctx); err != nil {
		t.Fatal(err)
	}
	var g api.GroupDescription
	c.eventually(30*time.Second, "the group's lag is 0 over the topic's 50 messages", func() bool {
		for _, id := range ids {
			if c.do(id, "GET", "/groups/five-g", "", &g) == http.StatusOK {
				break
			}
		}
		var hw int64
		for _, part := range g.Partitions {
			hw += part.HighWatermark
		}
		return g.Lag == 0 && hw == n && len(g.Partitions) == 5
	})

	// Every node lists the group, whichever coordinates it: GET /groups
	// asks the others for theirs. (Before, only its coordinator did.)
	for _, id := range ids {
		var l api.GroupList
		if st := c.do(id, "GET", "/groups", "", &l); st != http.StatusOK || !l.Complete || len(l.UnreachedNodes) != 0 ||
			len(l.Groups) != 1 || l.Groups[0].GroupID != "five-g" || l.Groups[0].Lag != 0 {
			t.Fatalf("GET /groups on node %d: %d %+v", id, st, l)
		}
	}

	// The coordinator dies: every other node, those holding no replica of
	// the group's shard included, names the new one, and the group goes
	// on. (Before, a node holding no replica named the shard's preferred
	// voter, the dead node, for as long as it was down.)
	coord := c.coordinatorOf(1, "five-g")
	c.procs[coord].Kill()
	var rest []uint64
	for _, id := range ids {
		if id != coord {
			rest = append(rest, id)
		}
	}
	c.eventually(60*time.Second, fmt.Sprintf("the nodes but %d name one live coordinator of the group", coord), func() bool {
		first := c.coordinatorOf(rest[0], "five-g")
		for _, id := range rest {
			if named := c.coordinatorOf(id, "five-g"); named == 0 || named == coord || named != first {
				return false
			}
		}
		return true
	})
	for i := n; i < n+10; i++ {
		if _, err := p.Publish(ctx, topic, &client.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}); err != nil {
			t.Fatalf("publish %d after the coordinator's death: %v", i, err)
		}
	}
	for len(got) < n+10 {
		msgs, err := cons.Poll(ctx, 100)
		if err != nil {
			t.Fatalf("poll after the coordinator's death, %d of %d consumed: %v", len(got), n+10, err)
		}
		for _, m := range msgs {
			got[string(m.Value)] = true
			if err := cons.Ack(m); err != nil {
				t.Fatal(err)
			}
		}
	}
}
