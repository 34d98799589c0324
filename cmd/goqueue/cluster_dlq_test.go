package main

import (
	"context"
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
