package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// clusterTopicOn is topic as GET /cluster on node id shows it; false if
// the node does not answer or does not list it.
func (c *clusterProcs) clusterTopicOn(id uint64, topic string) (api.ClusterTopic, bool) {
	st, ok := c.status(id)
	if !ok {
		return api.ClusterTopic{}, false
	}
	for _, t := range st.Topics {
		if t.Name == topic {
			return t, true
		}
	}
	return api.ClusterTopic{}, false
}

// isrAgrees waits until every node of ids shows, in GET /cluster and in
// GET /topics/{topic}, the same leader for each partition of topic and
// an ISR that want accepts.
func (c *clusterProcs) isrAgrees(ids []uint64, topic, what string, want func(p api.ClusterPartition) bool) api.ClusterTopic {
	c.t.Helper()
	var last api.ClusterTopic
	c.eventually(30*time.Second, what, func() bool {
		var first *api.ClusterTopic
		for _, id := range ids {
			ct, ok := c.clusterTopicOn(id, topic)
			if !ok {
				return false
			}
			var info api.Topic
			if c.do(id, "GET", "/topics/"+topic, "", &info) != http.StatusOK || len(info.PartitionInfo) != len(ct.Partitions) {
				return false
			}
			for i, p := range ct.Partitions {
				pi := info.PartitionInfo[i]
				if !want(p) || p.Leader == 0 || pi.Leader != p.Leader || !slices.Equal(pi.ISR, p.ISR) {
					return false
				}
				if first != nil && (first.Partitions[i].Leader != p.Leader || !slices.Equal(first.Partitions[i].ISR, p.ISR)) {
					return false
				}
			}
			if first == nil {
				first = &ct
			}
		}
		last = *first
		return true
	})
	return last
}

// kafkaISR is each partition's ISR of topic in a Kafka Metadata answer of
// node id.
func (c *clusterProcs) kafkaISR(ctx context.Context, id uint64, topic string) map[int32][]int32 {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.procs[id].Kafka))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	md, err := req.RequestWith(ctx, cl)
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[int32][]int32{}
	for _, mt := range md.Topics {
		for _, mp := range mt.Partitions {
			out[mp.Partition] = slices.Sorted(slices.Values(mp.ISR))
		}
	}
	return out
}

// allReplicas: every replica of a 3-replica partition is in sync.
func allReplicas(p api.ClusterPartition) bool {
	return len(p.Replicas) == 3 && len(p.ISR) == 3
}

// without says node is out of every partition's ISR it follows, and the
// others are in.
func without(node uint64) func(api.ClusterPartition) bool {
	return func(p api.ClusterPartition) bool {
		return p.Leader != node && len(p.ISR) == 2 && !slices.Contains(p.ISR, node)
	}
}

// On a 3-node cluster: every node shows the same leaders and in-sync
// replicas of a replicated topic in GET /cluster, topic info and Kafka
// Metadata; a follower paused with SIGSTOP leaves every ISR and comes
// back after SIGCONT; a node whose links are cut leaves them too and
// comes back once healed. Altering a topic's retention and adding
// partitions (over HTTP and Kafka CreatePartitions) reach every node, the
// new partitions replicated and led.
func TestBinaryClusterISRAndAlter(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Setenv(faultsEnv, "1") // inherited by the processes
	c := startClusterProcs(t, 3)
	all := []uint64{1, 2, 3}
	c.agree(all, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if st := c.do(1, "POST", "/topics", `{"name":"adm","partitions":2}`, nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	ct := c.isrAgrees(all, "adm", "every replica in sync on every node", allReplicas)
	for id := range c.procs {
		for p, isr := range c.kafkaISR(ctx, id, "adm") {
			if !slices.Equal(isr, []int32{1, 2, 3}) {
				t.Fatalf("node %d: Kafka ISR of adm/%d: %v", id, p, isr)
			}
		}
	}

	// Alter the retention through node 2: every node's copy takes it.
	var altered api.Topic
	if st := c.do(2, "PATCH", "/topics/adm", `{"retention_hours":2}`, &altered); st != http.StatusOK || altered.RetentionHours != 2 {
		t.Fatalf("alter: %d %+v", st, altered)
	}
	for _, id := range all {
		c.eventually(10*time.Second, fmt.Sprintf("node %d has retention 2h", id), func() bool {
			return c.topic(id, "adm").RetentionHours == 2
		})
	}

	// Grow to 3 partitions over HTTP (node 3) and to 4 over Kafka.
	var grown api.Topic
	if st := c.do(3, "POST", "/topics/adm/partitions", `{"count":3}`, &grown); st != http.StatusOK || len(grown.PartitionInfo) != 3 {
		t.Fatalf("add partitions: %d %+v", st, grown)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.procs[1].Kafka))
	if err != nil {
		t.Fatal(err)
	}
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.TimeoutMillis = 10000
	cp.Topics = append(cp.Topics, kmsg.CreatePartitionsRequestTopic{Topic: "adm", Count: 4})
	cr, err := cp.RequestWith(ctx, cl)
	cl.Close()
	if err != nil || len(cr.Topics) != 1 || cr.Topics[0].ErrorCode != 0 {
		t.Fatalf("Kafka CreatePartitions: %v %+v", err, cr)
	}
	ct = c.isrAgrees(all, "adm", "4 partitions, each with every replica in sync", func(p api.ClusterPartition) bool {
		return allReplicas(p)
	})
	if len(ct.Partitions) != 4 {
		t.Fatalf("partitions: %+v", ct.Partitions)
	}
	// The new partitions take writes.
	var brokers []string
	for _, id := range all {
		brokers = append(brokers, c.procs[id].URL)
	}
	prod, err := client.NewProducer(&client.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for part := range int32(4) {
		if _, err := prod.Publish(ctx, "adm", &client.Record{Value: []byte("v"), Partition: &part}); err != nil {
			t.Fatalf("publish to adm/%d: %v", part, err)
		}
	}

	// Pause a node that follows partition 0: it leaves every ISR it was
	// in, on the others' GET /cluster and Kafka Metadata.
	paused := ct.Partitions[0].Leader%3 + 1
	var live []uint64
	for _, id := range all {
		if id != paused {
			live = append(live, id)
		}
	}
	c.procs[paused].Signal(syscall.SIGSTOP)
	at := time.Now()
	c.isrAgrees(live, "adm", fmt.Sprintf("node %d (paused) out of every ISR", paused), without(paused))
	t.Logf("node %d paused: out of every ISR on both other nodes after %v", paused, time.Since(at).Round(10*time.Millisecond))
	for p, isr := range c.kafkaISR(ctx, live[0], "adm") {
		if slices.Contains(isr, int32(paused)) || len(isr) != 2 {
			t.Fatalf("Kafka ISR of adm/%d with node %d paused: %v", p, paused, isr)
		}
	}
	c.procs[paused].Signal(syscall.SIGCONT)
	at = time.Now()
	c.isrAgrees(all, "adm", fmt.Sprintf("node %d back in every ISR after SIGCONT", paused), allReplicas)
	t.Logf("node %d resumed: back in every ISR after %v", paused, time.Since(at).Round(10*time.Millisecond))

	// Cut a node off: the same, and back once healed.
	cut := paused%3 + 1
	var others []uint64
	for _, id := range all {
		if id != cut {
			others = append(others, id)
		}
	}
	c.cut(cut, others...)
	for _, id := range others {
		c.cut(id, cut)
	}
	at = time.Now()
	c.isrAgrees(others, "adm", fmt.Sprintf("node %d (cut off) out of every ISR", cut), without(cut))
	t.Logf("node %d cut off: out of every ISR after %v", cut, time.Since(at).Round(10*time.Millisecond))
	c.cut(cut)
	for _, id := range others {
		c.cut(id)
	}
	c.isrAgrees(all, "adm", fmt.Sprintf("node %d back in every ISR once healed", cut), allReplicas)
}

// A topic deleted on a 3-node cluster is gone from every node (its
// partitions' Raft state too), also from a node that was down meanwhile;
// created again under its name it has a new ID and holds only what is
// written to it then. A group that consumed and acknowledged the old
// topic consumes the new one from its start, as on a single broker.
// Kafka DeleteTopics deletes it on every node as well.
func TestBinaryClusterDeleteAndRecreate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := startClusterProcs(t, 3)
	all := []uint64{1, 2, 3}
	c.agree(all, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if st := c.do(1, "POST", "/topics", `{"name":"gone","partitions":2}`, nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	old := c.isrAgrees(all, "gone", "leaders known everywhere", allReplicas)
	var brokers []string
	for _, id := range all {
		brokers = append(brokers, c.procs[id].URL)
	}
	prod, err := client.NewProducer(&client.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	publish := func(prefix string, n int) {
		t.Helper()
		for i := range n {
			if _, err := prod.Publish(ctx, "gone", &client.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(prefix + strconv.Itoa(i))}); err != nil {
				t.Fatalf("publish %s%d: %v", prefix, i, err)
			}
		}
	}
	publish("old", 10)
	cons, err := client.NewConsumer(&client.ConsumerConfig{Brokers: brokers, GroupID: "g", Topics: []string{"gone"}, PollWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	consume := func(want int) []string {
		t.Helper()
		var got []string
		deadline := time.Now().Add(30 * time.Second)
		for len(got) < want && time.Now().Before(deadline) {
			msgs, err := cons.Poll(ctx, 100)
			if err != nil {
				continue // a rebalance or a deleted topic under way: poll again
			}
			for _, m := range msgs {
				got = append(got, string(m.Value))
				if err := cons.Ack(m); err != nil {
					t.Logf("ack %s: %v", m.Value, err)
				}
			}
		}
		if err := cons.CommitAll(); err != nil {
			t.Logf("commit: %v", err)
		}
		return got
	}
	if got := consume(10); len(got) != 10 {
		t.Fatalf("group consumed %d of the old topic's 10: %v", len(got), got)
	}

	// Node 3 is down while the topic is deleted and created again.
	down := uint64(3)
	c.procs[down].Kill()
	c.agree([]uint64{1, 2}, down, map[uint64]uint64{1: 1, 2: 1}, 30*time.Second)
	if st := c.do(1, "DELETE", "/topics/gone", "", nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	if st := c.do(1, "GET", "/topics/gone", "", nil); st != http.StatusNotFound {
		t.Fatalf("GET after delete on the deleting node: %d", st)
	}
	c.eventually(10*time.Second, "node 2 drops the topic", func() bool {
		_, listed := c.clusterTopicOn(2, "gone")
		return !listed && c.do(2, "GET", "/topics/gone", "", nil) == http.StatusNotFound
	})
	for _, id := range []uint64{1, 2} {
		for _, p := range old.Partitions {
			if _, err := os.Stat(filepath.Join(c.procs[id].Dir, "cluster", fmt.Sprintf("g%d", p.Group))); !os.IsNotExist(err) {
				t.Fatalf("node %d kept group %d's Raft state: %v", id, p.Group, err)
			}
		}
	}

	if st := c.do(2, "POST", "/topics", `{"name":"gone","partitions":2}`, nil); st != http.StatusCreated {
		t.Fatalf("create again: %d", st)
	}
	again := c.isrAgrees([]uint64{1, 2}, "gone", "the new topic led", func(p api.ClusterPartition) bool { return len(p.ISR) == 2 })
	if again.ID == old.ID || again.Partitions[0].Group == old.Partitions[0].Group {
		t.Fatalf("recreated topic %s (groups %d) reuses the old %s (%d)", again.ID, again.Partitions[0].Group, old.ID, old.Partitions[0].Group)
	}
	publish("new", 4)
	if got := consume(4); len(got) != 4 || slices.ContainsFunc(got, func(v string) bool { return v[:3] != "new" }) {
		t.Fatalf("group consumed %v of the recreated topic, want its 4 new messages", got)
	}

	// The node that was down drops its old copy and replicates the new.
	c.restart(down)
	c.isrAgrees(all, "gone", "the restarted node in sync with the new topic", allReplicas)
	for _, p := range old.Partitions {
		if _, err := os.Stat(filepath.Join(c.procs[down].Dir, "cluster", fmt.Sprintf("g%d", p.Group))); !os.IsNotExist(err) {
			t.Fatalf("restarted node kept group %d's Raft state: %v", p.Group, err)
		}
	}
	var total int64
	for _, pi := range c.topic(down, "gone").PartitionInfo {
		var f api.FetchResponse
		c.eventually(10*time.Second, fmt.Sprintf("node %d's copy of gone/%d", down, pi.Partition), func() bool {
			return c.do(pi.Leader, "GET", fmt.Sprintf("/topics/gone/partitions/%d/messages?offset=0", pi.Partition), "", &f) == http.StatusOK
		})
		total += f.HighWatermark
	}
	if total != 4 {
		t.Fatalf("the recreated topic holds %d messages, want 4", total)
	}

	// Kafka DeleteTopics deletes it on every node.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.procs[2].Kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.TimeoutMillis = 10000
	dt.Topics = append(dt.Topics, kmsg.DeleteTopicsRequestTopic{Topic: kmsg.StringPtr("gone")})
	dr, err := dt.RequestWith(ctx, cl)
	if err != nil || len(dr.Topics) != 1 || dr.Topics[0].ErrorCode != 0 {
		t.Fatalf("Kafka DeleteTopics: %v %+v", err, dr)
	}
	for _, id := range all {
		c.eventually(10*time.Second, fmt.Sprintf("node %d drops the topic deleted over Kafka", id), func() bool {
			return c.do(id, "GET", "/topics/gone", "", nil) == http.StatusNotFound
		})
	}
}
