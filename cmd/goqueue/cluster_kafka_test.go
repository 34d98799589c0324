package main

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/pkg/client"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// A Kafka client given one node's Kafka address finds the other nodes and
// each partition's leader in Metadata, produces keyed and keyless records
// to a topic whose six partitions three nodes lead, and reads them all
// back; every record is on its partition's leader, where the produce said.
// A produce or fetch sent to a node for a partition it does not lead is
// answered NOT_LEADER_OR_FOLLOWER.
func TestBinaryClusterKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const topic, parts, n = "kspread", 6, 600
	c, leaders := clusterTopic(t, topic, parts)
	for id, p := range c.procs {
		if p.Kafka == "" {
			t.Fatalf("node %d has no Kafka listener:\n%s", id, p.Log())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.procs[1].Kafka), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	// Metadata names all three nodes and the metadata's leaders.
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 3 {
		t.Fatalf("metadata brokers: %+v", md.Brokers)
	}
	for _, b := range md.Brokers {
		if want := c.procs[uint64(b.NodeID)].Kafka; fmt.Sprintf("%s:%d", b.Host, b.Port) != want {
			t.Fatalf("broker %d at %s:%d, its listener is %s", b.NodeID, b.Host, b.Port, want)
		}
	}
	var topicID [16]byte
	for _, mt := range md.Topics {
		if mt.Topic == nil || *mt.Topic != topic {
			continue
		}
		topicID = mt.TopicID
		for _, mp := range mt.Partitions {
			if mp.ErrorCode != 0 || uint64(mp.Leader) != leaders[mp.Partition] {
				t.Fatalf("partition %d: leader %d (error %d), want %d", mp.Partition, mp.Leader, mp.ErrorCode, leaders[mp.Partition])
			}
		}
	}

	// Every node names the topic by the metadata's ID (fetches go by ID).
	for id := 2; id <= 3; id++ {
		r, err := cl.Broker(id).Request(ctx, kmsg.NewPtrMetadataRequest())
		if err != nil {
			t.Fatal(err)
		}
		for _, mt := range r.(*kmsg.MetadataResponse).Topics {
			if mt.Topic != nil && *mt.Topic == topic && mt.TopicID != topicID {
				t.Fatalf("node %d names %s by ID %x, node 1 by %x", id, topic, mt.TopicID, topicID)
			}
		}
	}

	// Produce through whatever leaders the client finds.
	at := map[string]*kgo.Record{}
	for i := range n {
		r := &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}
		if i%2 == 0 {
			r.Key = []byte("k" + strconv.Itoa(i%13))
		}
		res := cl.ProduceSync(ctx, r)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		at[string(r.Value)] = r
	}
	// Each record is on its leader where the produce answer said.
	for part := int32(0); part < parts; part++ {
		leader, err := client.New(c.procs[leaders[part]].URL)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range readPartition(t, leader, topic, part) {
			r := at[string(m.Value)]
			if r == nil || r.Partition != part || r.Offset != m.Offset {
				t.Fatalf("partition %d offset %d holds %q, produced at %+v", part, m.Offset, m.Value, r)
			}
			delete(at, string(m.Value))
		}
	}
	if len(at) != 0 {
		t.Fatalf("%d records produced are not on their leaders", len(at))
	}

	// Consume all of them back over Kafka, from every leader.
	got := map[string]bool{}
	for len(got) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		for _, e := range fs.Errors() {
			if e.Err != context.DeadlineExceeded {
				t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
			}
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	}
	if len(got) != n {
		t.Fatalf("consumed %d of %d", len(got), n)
	}

	// Node 1 refuses a partition another node leads.
	other := int32(-1)
	for p, id := range leaders {
		if id != 1 {
			other = p
		}
	}
	var bb recordbatch.Builder
	bb.Reset(nil)
	bb.Add(0, time.Now().UnixMilli(), nil, []byte("misdirected"), nil)
	preq := kmsg.NewPtrProduceRequest()
	preq.Acks, preq.TimeoutMillis = -1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Partition, pp.Records = other, bb.Finish(recordbatch.NewHeader(0))
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	presp, err := cl.Broker(1).Request(ctx, preq)
	if err != nil {
		t.Fatal(err)
	}
	if code := presp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce to node 1 for partition %d (node %d's): error %d, want NOT_LEADER_OR_FOLLOWER", other, leaders[other], code)
	}
	freq := kmsg.NewPtrFetchRequest()
	freq.MaxWaitMillis, freq.MaxBytes = 0, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = topic, topicID // the client picks the version: by name or by ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.PartitionMaxBytes = other, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	freq.Topics = append(freq.Topics, ft)
	fresp, err := cl.Broker(1).Request(ctx, freq)
	if err != nil {
		t.Fatal(err)
	}
	if code := fresp.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("fetch from node 1 of partition %d (node %d's): error %d, want NOT_LEADER_OR_FOLLOWER", other, leaders[other], code)
	}

	// More replicas than nodes is Kafka's INVALID_REPLICATION_FACTOR, also
	// when only validating; the default is the cluster's, 3.
	for _, tc := range []struct {
		rf, wantRF   int16
		validateOnly bool
		want         int16
	}{
		{4, -1, false, kerr.InvalidReplicationFactor.Code},
		{4, -1, true, kerr.InvalidReplicationFactor.Code},
		{-1, 3, true, 0},
	} {
		creq := kmsg.NewPtrCreateTopicsRequest()
		creq.ValidateOnly = tc.validateOnly
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "copies", 1, tc.rf
		creq.Topics = append(creq.Topics, ct)
		cresp, err := cl.Broker(1).Request(ctx, creq)
		if err != nil {
			t.Fatal(err)
		}
		if got := cresp.(*kmsg.CreateTopicsResponse).Topics[0]; got.ErrorCode != tc.want || got.ReplicationFactor != tc.wantRF {
			t.Fatalf("create with replication factor %d (validate only %v) on 3 nodes: error %d, factor %d; want %d, %d",
				tc.rf, tc.validateOnly, got.ErrorCode, got.ReplicationFactor, tc.want, tc.wantRF)
		}
	}
}

// A node that dies drops out of the other nodes' Metadata once they count
// it down, as Kafka lists only live brokers: clients then forget it as a
// partition's leader or a group's coordinator and ask again (sarama keeps
// dialing a coordinator Metadata still names, so its consumer groups
// stalled until the dead node came back). Its partitions are then led by
// a live node or LEADER_NOT_AVAILABLE; FindCoordinator names no dead
// node. Restarted, it is listed again.
func TestBinaryClusterKafkaMetadataLiveBrokers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const topic, parts = "klive", 6
	c, _ := clusterTopic(t, topic, parts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.procs[1].Kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	metadata := func() *kmsg.MetadataResponse {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		r, err := cl.Broker(1).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return r.(*kmsg.MetadataResponse)
	}
	lists := func(md *kmsg.MetadataResponse, id int32) bool {
		for _, b := range md.Brokers {
			if b.NodeID == id {
				return true
			}
		}
		return false
	}

	c.procs[3].Kill()
	var md *kmsg.MetadataResponse
	c.eventually(15*time.Second, "node 1's Metadata leaves out the killed node 3", func() bool {
		md = metadata()
		return !lists(md, 3)
	})
	if len(md.Brokers) != 2 {
		t.Fatalf("metadata brokers after node 3 died: %+v", md.Brokers)
	}
	for _, mp := range md.Topics[0].Partitions {
		if mp.Leader == 3 || mp.Leader < 0 && mp.ErrorCode != kerr.LeaderNotAvailable.Code {
			t.Fatalf("partition %d: leader %d, error %d", mp.Partition, mp.Leader, mp.ErrorCode)
		}
		if len(mp.OfflineReplicas) != 1 || mp.OfflineReplicas[0] != 3 {
			t.Fatalf("partition %d: offline replicas %v, want [3]", mp.Partition, mp.OfflineReplicas)
		}
	}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	for i := range 24 { // every shard's groups, most likely
		fc.CoordinatorKeys = append(fc.CoordinatorKeys, fmt.Sprintf("live-%d", i))
	}
	fc.CoordinatorKey = fc.CoordinatorKeys[0]
	r, err := cl.Broker(1).Request(ctx, fc)
	if err != nil {
		t.Fatal(err)
	}
	resp := r.(*kmsg.FindCoordinatorResponse)
	named := []int32{resp.NodeID}
	for _, co := range resp.Coordinators {
		named = append(named, co.NodeID)
	}
	for _, id := range named {
		if id == 3 {
			t.Fatalf("FindCoordinator names the dead node 3: %+v", resp)
		}
	}

	c.restart(3)
	c.eventually(30*time.Second, "node 1's Metadata lists node 3 again after its restart", func() bool {
		return lists(metadata(), 3)
	})
}
