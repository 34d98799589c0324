package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// A message dead-lettered by a group in a cluster lands in its topic's DLQ
// as a topic of the cluster (replicated with the cluster's default
// factor), written through the DLQ partition's leader wherever that is: it
// is readable from that leader and survives the group coordinator's node
// being killed (with its local disk, for all the DLQ cares).
func TestBinaryClusterDeadLettersReplicated(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := startClusterProcs(t, 3)
	c.agree([]uint64{1, 2, 3}, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	const src, coord = "dlsrc", 2
	var tp api.Topic
	if st := c.do(1, "POST", "/topics", `{"name":"dlsrc","partitions":1}`, &tp); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	for id := range c.procs {
		c.topic(id, src)
	}
	lead := tp.PartitionInfo[0].Leader
	if st := c.do(lead, "POST", "/topics/"+src+"/messages", `{"messages":[{"key":"k","value":"poison"}]}`, nil); st != http.StatusOK {
		t.Fatalf("publish on the leader, node %d: %d", lead, st)
	}

	group := groupOn("dl", coord)
	c.awaitCoordinator(coord, group, 1, 2, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cons, err := client.NewConsumer(&client.ConsumerConfig{Brokers: []string{c.procs[coord].URL}, GroupID: group,
		Topics: []string{src}, PollWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for nacked := false; !nacked; {
		msgs, err := cons.Poll(ctx, 10)
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		for _, m := range msgs {
			if err := cons.NackWith(m, client.NackOptions{Reason: "cannot parse"}); err != nil {
				t.Fatal(err)
			}
			nacked = true
		}
	}
	if err := cons.CommitContext(ctx); err != nil {
		t.Fatalf("sending the nack: %v", err)
	}

	dlq := api.DLQName(src)
	var ct api.ClusterTopic
	c.eventually(30*time.Second, "the DLQ is a topic of the cluster with three replicas", func() bool {
		var ok bool
		ct, ok = c.clusterTopicOn(1, dlq)
		return ok && ct.ReplicationFactor == 3 && len(ct.Partitions) == 1 && ct.Partitions[0].Leader != 0
	})
	// The coordinator's node dies; the dead letter is read from the DLQ
	// partition's leader among the others.
	c.procs[coord].Kill()
	var fr api.FetchResponse
	c.eventually(30*time.Second, "the dead letter is read from the DLQ's leader without the coordinator", func() bool {
		for id := range c.procs {
			if id == coord {
				continue
			}
			if c.do(id, "GET", "/topics/"+dlq+"/partitions/0/messages?offset=earliest", "", &fr) == http.StatusOK && len(fr.Messages) == 1 {
				return true
			}
		}
		return false
	})
	m := fr.Messages[0]
	if !strings.Contains(string(m.Value), "poison") || m.Headers[api.DLQHeaderLastError] != "cannot parse" || m.Headers[api.DLQHeaderGroup] != group {
		t.Fatalf("dead letter %+v", m)
	}
}

// A DLQ of the cluster is replayed and purged through any node. The
// replay, asked of a node that does not lead every partition it writes to,
// writes through their leaders; a second replay, on another node, skips
// what the first replayed (the record is the cluster's, not one node's);
// a purge on a third deletes the DLQ on every node, as DELETE /topics
// does, and leaves that node serving. (Before, the replay failed
// NOT_LEADER partway and each node kept its own record; the purge deleted
// the asking node's copy only, which then answered UNAVAILABLE for it.)
func TestBinaryClusterDLQReplayAndPurge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := startClusterProcs(t, 3)
	c.agree([]uint64{1, 2, 3}, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	const src = "rpsrc"
	if st := c.do(1, "POST", "/topics", `{"name":"rpsrc","partitions":3}`, nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	var ct api.ClusterTopic
	c.eventually(30*time.Second, "every partition has a leader", func() bool {
		var ok bool
		ct, ok = c.clusterTopicOn(1, src)
		return ok && len(ct.Partitions) == 3 && ct.Partitions[0].Leader != 0 && ct.Partitions[1].Leader != 0 && ct.Partitions[2].Leader != 0
	})
	for p := range int32(3) {
		body := fmt.Sprintf(`{"messages":[{"value":"m%d","partition":%d}]}`, p, p)
		c.eventually(30*time.Second, fmt.Sprintf("a publish to partition %d", p), func() bool {
			ct, _ = c.clusterTopicOn(1, src)
			return c.do(ct.Partitions[p].Leader, "POST", "/topics/"+src+"/messages", body, nil) == http.StatusOK
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cons, err := client.NewConsumer(&client.ConsumerConfig{Brokers: []string{c.procs[1].URL, c.procs[2].URL, c.procs[3].URL},
		GroupID: "rp", Topics: []string{src}, PollWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	consume := func(settle func(*client.Message) error) map[string]bool {
		got := map[string]bool{}
		for len(got) < 3 {
			msgs, err := cons.Poll(ctx, 10)
			if err != nil {
				t.Fatalf("poll: %v", err)
			}
			for _, m := range msgs {
				got[string(m.Value)] = true
				if err := settle(m); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := cons.CommitContext(ctx); err != nil {
			t.Fatalf("settling: %v", err)
		}
		return got
	}
	consume(func(m *client.Message) error { return cons.NackWith(m, client.NackOptions{Reason: "bad"}) })

	a := ct.Partitions[0].Leader%3 + 1 // leads partition 0 of the target, at least, not
	b, purger := a%3+1, (a+1)%3+1
	var rr api.DLQReplayResponse
	if st := c.do(a, "POST", "/topics/"+src+"/dlq/replay", `{}`, &rr); st != http.StatusOK || rr.Replayed != 3 {
		t.Fatalf("replay on node %d: %d %+v", a, st, rr)
	}
	if got := consume(cons.Ack); len(got) != 3 {
		t.Fatalf("after the replay the group got %v", got)
	}
	rr = api.DLQReplayResponse{}
	if st := c.do(b, "POST", "/topics/"+src+"/dlq/replay", `{}`, &rr); st != http.StatusOK || rr.Replayed != 0 || rr.Skipped != 3 {
		t.Fatalf("second replay, on node %d: %d %+v", b, st, rr)
	}

	dlq := api.DLQName(src)
	if st := c.do(purger, "DELETE", "/topics/"+src+"/dlq", "", nil); st != http.StatusNoContent {
		t.Fatalf("purge on node %d: %d", purger, st)
	}
	for id := range c.procs {
		c.eventually(30*time.Second, fmt.Sprintf("node %d no longer has the purged DLQ", id), func() bool {
			return c.do(id, "GET", "/topics/"+dlq, "", nil) == http.StatusNotFound
		})
	}
	if st := c.do(purger, "GET", "/topics/"+src, "", nil); st != http.StatusOK {
		t.Fatalf("node %d after its purge: GET /topics/%s %d", purger, src, st)
	}
}
