package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// A partition of replication factor 1 whose node restarts on an empty
// data directory (a disk lost and replaced) is lost: its only Raft voter
// was the forgotten replica, so its group can never elect a leader again.
// So is one of factor 2 with a replica there (its group needs both
// voters; the other copy survives, unserved). Every node says so: a read
// or write answers PARTITION_LOST (410, not retriable) naming the wiped
// node, over HTTP, the CLI and the Go client; GET /topics/{t}, GET
// /cluster, topic describe and /metrics show it lost with no leader;
// Kafka Metadata shows it leaderless with that replica offline and a
// Kafka request for it is answered LEADER_NOT_AVAILABLE. The other
// partitions take writes, and the keyless records of a Producer and of a
// Kafka producer go there; consume without a group reads them. The wiped
// node logs its rejoin once a voter of its other groups, naming the lost
// ones. Deleting the topic and creating it again mends it. It used to
// answer UNAVAILABLE "an election is under way; retry" for good, or
// NOT_LEADER sending clients to the wiped node.
func TestBinaryClusterWipedOnlyReplicaIsLost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := startClusterProcs(t, 3)
	all := []uint64{1, 2, 3}
	metaLeader := c.agree(all, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	var one api.Topic
	if st := c.do(metaLeader, "POST", "/topics", `{"name":"one","partitions":3,"replication_factor":1}`, &one); st != http.StatusCreated {
		t.Fatalf("create one: %d", st)
	}
	leaders := map[int32]uint64{}
	for _, p := range one.PartitionInfo {
		leaders[p.Partition] = p.Leader
	}
	c.knowLeaders("one", leaders)
	if st := c.do(metaLeader, "POST", "/topics", `{"name":"two","partitions":3,"replication_factor":2}`, nil); st != http.StatusCreated {
		t.Fatalf("create two: %d", st)
	}
	victim := metaLeader%3 + 1 // not the metadata leader: no metadata election on the way
	part := int32(slices.IndexFunc(one.PartitionInfo, func(p api.PartitionInfo) bool { return p.Leader == victim }))
	if part < 0 {
		t.Fatalf("node %d leads no partition of one: %+v", victim, one.PartitionInfo)
	}
	if st := c.do(victim, "POST", "/topics/one/messages", fmt.Sprintf(`{"partition":%d,"value":"gone"}`, part), nil); st/100 != 2 {
		t.Fatalf("publish to one/%d before the wipe: %d", part, st)
	}

	c.procs[victim].Kill()
	c.restartOn(victim, filepath.Join(t.TempDir(), "data"))
	wiped := time.Now()
	c.agree(all, 0, map[uint64]uint64{}, 30*time.Second)
	for _, id := range all {
		c.topic(id, "one")
		var refused api.ErrorBody
		c.eventually(15*time.Second, fmt.Sprintf("node %d refuses one/%d as lost", id, part), func() bool {
			refused = api.ErrorBody{}
			st := c.do(id, "POST", "/topics/one/messages", fmt.Sprintf(`{"partition":%d,"value":"x"}`, part), &refused)
			return st == http.StatusGone
		})
		if e := refused.Error; e == nil || e.Code != api.ErrPartitionLost.Code || e.Retriable || fmt.Sprint(e.Details["lost_replicas"]) != fmt.Sprintf("[%d]", victim) {
			t.Fatalf("publish on node %d to one/%d: %+v, want PARTITION_LOST naming node %d", id, part, e, victim)
		}
		p := c.topic(id, "one").PartitionInfo[part]
		if !p.Lost || p.Leader != 0 || !slices.Equal(p.LostReplicas, []uint64{victim}) {
			t.Fatalf("node %d: GET /topics/one partition %d: %+v, want lost with no leader", id, part, p)
		}
		var st api.ClusterStatus
		if c.do(id, "GET", "/cluster", "", &st) != http.StatusOK {
			t.Fatalf("node %d: GET /cluster", id)
		}
		for _, ct := range st.Topics {
			if cp := ct.Partitions[part]; ct.Name == "one" && (!cp.Lost || cp.Leader != 0) {
				t.Fatalf("node %d: GET /cluster partition %d: %+v, want lost with no leader", id, part, cp)
			}
		}
		// The other partitions take writes on their leaders.
		for q, l := range leaders {
			if q != part {
				if st := c.do(l, "POST", "/topics/one/messages", fmt.Sprintf(`{"partition":%d,"value":"y"}`, q), nil); st/100 != 2 {
					t.Fatalf("publish to one/%d on node %d: %d", q, l, st)
				}
			}
		}
	}
	// Factor 2: a partition with a replica on the wiped node is lost
	// too (its group needs both voters), the other replica's copy
	// surviving; the one without stays led.
	lostTwo := 0
	for _, p := range c.topic(metaLeader, "two").PartitionInfo {
		var refused api.ErrorBody
		at := metaLeader
		if p.Leader != 0 {
			at = p.Leader
		}
		st := c.do(at, "POST", "/topics/two/messages", fmt.Sprintf(`{"partition":%d,"value":"x"}`, p.Partition), &refused)
		if !slices.Contains(p.Replicas, victim) {
			if p.Lost || st/100 != 2 {
				t.Fatalf("two/%d on nodes %v: %+v, publish %d %+v", p.Partition, p.Replicas, p, st, refused.Error)
			}
			continue
		}
		lostTwo++
		survivor := p.Replicas[0] + p.Replicas[1] - victim
		if !p.Lost || p.Leader != 0 || st != http.StatusGone || refused.Error.Code != api.ErrPartitionLost.Code ||
			fmt.Sprint(refused.Error.Details["surviving_replicas"]) != fmt.Sprintf("[%d]", survivor) {
			t.Fatalf("two/%d on nodes %v: %+v, publish %d %+v, want lost, node %d's copy surviving", p.Partition, p.Replicas, p, st, refused.Error, survivor)
		}
	}
	for _, id := range all {
		if got := c.metrics(id)["goqueue_cluster_partitions_lost"]; got != float64(1+lostTwo) {
			t.Fatalf("node %d: goqueue_cluster_partitions_lost %v, want %d", id, got, 1+lostTwo)
		}
	}
	t.Logf("node %d wiped; every node answers one/%d PARTITION_LOST %v after its restart", victim, part, time.Since(wiped).Round(10*time.Millisecond))

	// The wiped node says when it is a voter of its other groups again,
	// naming the lost partitions (it used to never say it).
	c.eventually(30*time.Second, fmt.Sprintf("node %d logs its rejoin with one/%d lost", victim, part), func() bool {
		log := c.procs[victim].Log()
		return strings.Contains(log, "cluster: rejoined") && strings.Contains(log, fmt.Sprintf("one/%d", part))
	})

	// The CLI: describe shows it lost; produce to it fails at once.
	bin := goqueueBin.Path(t)
	if code, out, errs := cliRun(t, bin, c.procs[1].URL, "", "topic", "describe", "one"); code != 0 ||
		!strings.Contains(out, fmt.Sprintf("\n%d ", part)) || !strings.Contains(strings.SplitAfter(out, fmt.Sprintf("\n%d ", part))[1], "lost") {
		t.Fatalf("topic describe one: exit %d\n%s%s", code, out, errs)
	}
	asked := time.Now()
	if code, out, errs := cliRun(t, bin, c.procs[1].URL, "x\n", "produce", "one", "--partition", fmt.Sprint(part)); code != exitFailure ||
		!strings.Contains(errs, api.ErrPartitionLost.Code) || !strings.Contains(errs, "topic delete") || time.Since(asked) > 5*time.Second {
		t.Fatalf("produce to one/%d: exit %d after %v\n%s%s", part, code, time.Since(asked), out, errs)
	}

	// consume without a group reads the other partitions, saying the
	// lost one is left out.
	if code, out, errs := cliRun(t, bin, c.procs[1].URL, "", "consume", "one", "--from-beginning", "--idle", "200ms"); code != 0 ||
		!strings.Contains(out, "y\n") || strings.Contains(out, "gone") || !strings.Contains(errs, fmt.Sprintf("partition one/%d is lost", part)) {
		t.Fatalf("consume one: exit %d\n%s%s", code, out, errs)
	}

	// The Go client is told at once, not after its retries.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cl, err := client.New(c.procs[1].URL, c.procs[2].URL, c.procs[3].URL)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	asked = time.Now()
	_, err = cl.Publish(ctx, "one", api.PublishMessage{Partition: &part, Value: json.RawMessage(`"z"`)})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.ErrPartitionLost.Code || time.Since(asked) > 5*time.Second {
		t.Fatalf("client publish to one/%d: %v after %v, want PARTITION_LOST at once", part, err, time.Since(asked))
	}

	// A Producer's keyless records go to the other partitions; a record
	// for the lost one fails at once.
	prod, err := client.NewProducer(&client.ProducerConfig{Brokers: []string{c.procs[victim].URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := range 20 {
		pos, err := prod.Publish(ctx, "one", &client.Record{Value: []byte(fmt.Sprint(i))})
		if err != nil || pos.Partition == part {
			t.Fatalf("Producer keyless record %d: %+v %v", i, pos, err)
		}
	}
	asked = time.Now()
	if _, err := prod.Publish(ctx, "one", &client.Record{Value: []byte("lost"), Partition: &part}); !errors.As(err, &ae) || ae.Code != api.ErrPartitionLost.Code || time.Since(asked) > 5*time.Second {
		t.Fatalf("Producer record for one/%d: %v after %v, want PARTITION_LOST at once", part, err, time.Since(asked))
	}

	// Kafka: Metadata shows the partition leaderless, its replica
	// offline; keyless records go to the other partitions.
	kc, err := kgo.NewClient(kgo.SeedBrokers(c.procs[metaLeader].Kafka), kgo.DefaultProduceTopic("one"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("one")
	req.Topics = append(req.Topics, rt)
	md, err := req.RequestWith(ctx, kc)
	if err != nil {
		t.Fatal(err)
	}
	for _, mp := range md.Topics[0].Partitions {
		if mp.Partition == part && (mp.Leader != -1 || mp.ErrorCode != kerr.LeaderNotAvailable.Code || !slices.Equal(mp.OfflineReplicas, []int32{int32(victim)})) {
			t.Fatalf("Kafka Metadata of one/%d: leader %d error %d offline %v", part, mp.Leader, mp.ErrorCode, mp.OfflineReplicas)
		}
	}
	// A request for it (ListOffsets, refused as Produce and Fetch are)
	// on its old leader: LEADER_NOT_AVAILABLE, not NOT_LEADER.
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "one"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition, lp.Timestamp = part, -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	lr, err := kc.Broker(int(victim)).Request(ctx, lo)
	if err != nil {
		t.Fatal(err)
	}
	if code := lr.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.LeaderNotAvailable.Code {
		t.Fatalf("Kafka ListOffsets of one/%d on node %d: %v, want LEADER_NOT_AVAILABLE", part, victim, kerr.ErrorForCode(code))
	}
	for i := range 20 {
		r := kc.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))})
		if err := r.FirstErr(); err != nil {
			t.Fatalf("Kafka keyless produce %d: %v", i, err)
		}
		if r[0].Record.Partition == part {
			t.Fatalf("Kafka keyless record %d went to the lost partition", i)
		}
	}

	// What mends it: the topic deleted and created again, every
	// partition has a leader and takes writes.
	if st := c.do(metaLeader, "DELETE", "/topics/one", "", nil); st != http.StatusNoContent {
		t.Fatalf("delete one: %d", st)
	}
	if st := c.do(metaLeader, "POST", "/topics", `{"name":"one","partitions":3,"replication_factor":1}`, &one); st != http.StatusCreated {
		t.Fatalf("create one again: %d", st)
	}
	for _, p := range one.PartitionInfo {
		if p.Lost || p.Leader == 0 {
			t.Fatalf("one/%d created again: %+v", p.Partition, p)
		}
		if st := c.do(p.Leader, "POST", "/topics/one/messages", fmt.Sprintf(`{"partition":%d,"value":"again"}`, p.Partition), nil); st/100 != 2 {
			t.Fatalf("publish to one/%d created again: %d", p.Partition, st)
		}
	}
}
