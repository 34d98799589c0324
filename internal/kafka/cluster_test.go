package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// fakeCluster is node 1 of three: it leads partition 0 of "t", node 2
// (with a Kafka listener) partition 1, node 3 (without one) partition 2.
// With behind, it cannot confirm that its copies have everything
// committed (a leader just elected, or one deposed unawares); with
// uncaught, its broker does not hold every topic of the cluster yet (a
// node just started on an empty disk).
type fakeCluster struct {
	id       [16]byte
	behind   bool
	uncaught bool
}

func (f fakeCluster) TopicsCurrent(context.Context) error {
	if f.uncaught {
		return api.ErrUnavailable.Withf("fake: not caught up")
	}
	return nil
}

func (f fakeCluster) ReadPartition(_ context.Context, topic string, partition int32) error {
	if f.behind {
		return api.ErrUnavailable.Withf("fake: %s/%d not confirmed", topic, partition)
	}
	return nil
}

func (fakeCluster) ID() uint64 { return 1 }

// ConfirmAbsent: the metadata has "t" only; with behind, it confirms
// nothing.
func (f fakeCluster) ConfirmAbsent(_ context.Context, topic string, partition int32) error {
	if f.behind {
		return api.ErrUnavailable.Withf("fake: no read point")
	}
	if parts, ok := f.Placement(topic); ok && partition < int32(len(parts)) {
		return api.ErrUnavailable.Withf("fake: %s is in the metadata, not here yet", topic)
	}
	return nil
}

func (fakeCluster) Placement(topic string) ([]api.ClusterPartition, bool) {
	if topic != "t" {
		return nil, false
	}
	return []api.ClusterPartition{
		{Partition: 0, Replicas: []uint64{1}, Leader: 1, LeaderEpoch: 5},
		{Partition: 1, Replicas: []uint64{2, 1}, Leader: 2, LeaderEpoch: 3, ISR: []uint64{2}},
		{Partition: 2, Replicas: []uint64{3}, Leader: 3},
	}, true
}

func (fakeCluster) KafkaAddrs() map[uint64]string {
	return map[uint64]string{1: "127.0.0.1:1", 2: "127.0.0.2:9092"}
}

func (f fakeCluster) TopicID(topic string) ([16]byte, bool) { return f.id, topic == "t" }

// Coordinator places group "g2..." on node 2, "g3..." on node 3 (no Kafka
// listener), "unplaced" nowhere yet, and any other on node 1.
func (fakeCluster) Coordinator(group string) (uint64, bool) {
	switch {
	case group == "unplaced":
		return 0, false
	case strings.HasPrefix(group, "g2"):
		return 2, true
	case strings.HasPrefix(group, "g3"):
		return 3, true
	}
	return 1, true
}

// ReplicationFactor is 3 for the default, what is asked up to 3.
func (fakeCluster) ReplicationFactor(asked int32) (int, error) {
	switch {
	case asked == 0:
		return 3, nil
	case asked > 3:
		return 0, api.ErrInvalidArgument.Withf("fake cluster: %d replicas on 3 nodes", asked).WithDetail("field", "replication_factor")
	}
	return int(asked), nil
}

// CreateKafkaTopic refuses, saying what it was asked: the metadata of this
// fake takes no topics.
func (fakeCluster) CreateKafkaTopic(_ context.Context, spec broker.TopicSpec, rf int32) error {
	return api.ErrUnavailable.Withf("fake metadata: %s partitions %d rf %d retention %v", spec.Name, spec.Partitions, rf, spec.Retention)
}

// DeleteTopic and AlterTopic refuse, saying what they were asked.
func (fakeCluster) DeleteTopic(_ context.Context, name string) error {
	return api.ErrUnavailable.Withf("fake metadata: delete %s", name)
}

func (fakeCluster) AlterTopic(_ context.Context, name string, req api.AlterTopicRequest) error {
	return api.ErrUnavailable.Withf("fake metadata: alter %s partitions %d", name, req.Partitions)
}

// startClusterNode serves a broker holding topics (3 partitions each) as
// node 1 of fc, and returns a context for requests, a connection to it
// and its address.
func startClusterNode(t *testing.T, fc Cluster, topics ...string) (context.Context, *kgo.Broker, string) {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Logger = slog.New(slog.DiscardHandler)
	br, err := broker.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range topics {
		if _, err := br.CreateTopic(broker.TopicSpec{Name: name, Partitions: 3}); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	s := New(br, Options{NodeID: 1, Cluster: fc, Logger: cfg.Logger})
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		br.Close()
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return ctx, cl.SeedBrokers()[0], ln.Addr().String() // this node: the others do not exist
}

func (f fakeCluster) TopicName(id [16]byte) (string, bool) {
	if id == f.id {
		return "t", true
	}
	return "", false
}

// A cluster node's listener names the other nodes with Kafka listeners,
// each partition's leader (LEADER_NOT_AVAILABLE for one whose leader has
// no listener) and the metadata's topic ID, takes produce only for the
// partition it leads, and refuses the others with NOT_LEADER_OR_FOLLOWER;
// a topic local to it stays its own.
func TestClusterNodeAnswersLeaders(t *testing.T) {
	fc := fakeCluster{id: [16]byte{7, 7, 7}}
	ctx, seed, _ := startClusterNode(t, fc, "t", "local")

	r, err := seed.Request(ctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		t.Fatal(err)
	}
	md := r.(*kmsg.MetadataResponse)
	if md.ControllerID != 1 {
		t.Fatalf("controller %d, want this node", md.ControllerID)
	}
	if len(md.Brokers) != 2 || md.Brokers[0].NodeID != 1 || md.Brokers[0].Host != "127.0.0.1" ||
		md.Brokers[1].NodeID != 2 || md.Brokers[1].Host != "127.0.0.2" || md.Brokers[1].Port != 9092 {
		t.Fatalf("brokers: %+v", md.Brokers)
	}
	if len(md.Topics) != 2 {
		t.Fatalf("topics: %+v", md.Topics)
	}
	for _, mt := range md.Topics {
		switch *mt.Topic {
		case "t":
			if mt.TopicID != fc.id {
				t.Fatalf("topic ID %x, want the metadata's %x", mt.TopicID, fc.id)
			}
			want := []struct {
				leader, epoch int32
				code          int16
			}{{1, 5, 0}, {2, 3, 0}, {-1, -1, kerr.LeaderNotAvailable.Code}}
			for i, mp := range mt.Partitions {
				if mp.Leader != want[i].leader || mp.LeaderEpoch != want[i].epoch || mp.ErrorCode != want[i].code {
					t.Fatalf("t/%d: leader %d error %d, want %+v", i, mp.Leader, mp.ErrorCode, want[i])
				}
				// The recorded ISR, else the leader alone.
				if len(mp.ISR) != 1 || mp.ISR[0] != int32(i)+1 {
					t.Fatalf("t/%d: ISR %v", i, mp.ISR)
				}
			}
		case "local":
			for _, mp := range mt.Partitions {
				if mp.Leader != 1 || mp.ErrorCode != 0 {
					t.Fatalf("local/%d: leader %d error %d", mp.Partition, mp.Leader, mp.ErrorCode)
				}
			}
		}
	}

	produce := func(topic string, part int32) int16 {
		t.Helper()
		var bb recordbatch.Builder
		bb.Reset(nil)
		bb.Add(0, 1, nil, []byte("v"), nil)
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = part, bb.Finish(recordbatch.NewHeader(0))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := seed.Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	for part, want := range []int16{0, kerr.NotLeaderForPartition.Code, kerr.NotLeaderForPartition.Code} {
		if got := produce("t", int32(part)); got != want {
			t.Fatalf("produce t/%d: error %d, want %d", part, got, want)
		}
	}
	if got := produce("local", 2); got != 0 {
		t.Fatalf("produce local/2: error %d", got)
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "t"
	for p := range int32(2) {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp = p, -1
		lt.Partitions = append(lt.Partitions, lp)
	}
	lo.Topics = append(lo.Topics, lt)
	r, err = seed.Request(ctx, lo)
	if err != nil {
		t.Fatal(err)
	}
	lps := r.(*kmsg.ListOffsetsResponse).Topics[0].Partitions
	if lps[0].ErrorCode != 0 || lps[0].Offset != 1 || lps[1].ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("list offsets: %+v", lps)
	}
	// A consumer checking for truncation after a leader change asks the
	// leader where its epoch ends; a node that does not lead has an empty
	// copy, and its end offset (0) would read as the log cut below what
	// the consumer read.
	ep0, ep1 := endOfEpoch(ctx, t, seed, 0, -1, 5), endOfEpoch(ctx, t, seed, 1, -1, 5)
	if ep0.ErrorCode != 0 || ep0.EndOffset != 1 || ep1.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("offset for leader epoch: %+v, %+v", ep0, ep1)
	}
}

// endOfEpoch asks seed where epoch asked of t/partition ends, naming
// current as the epoch the client knows.
func endOfEpoch(ctx context.Context, t *testing.T, seed *kgo.Broker, partition, current, asked int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = partition, current, asked
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	r, err := seed.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return r.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
}

// fetchAt fetches t/0 (topic ID id) from offset at leader epoch current.
func fetchAt(ctx context.Context, t *testing.T, seed *kgo.Broker, id [16]byte, offset int64, current int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MaxBytes = 0, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "t", id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = 0, offset, current, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	r, err := seed.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return r.(*kmsg.FetchResponse).Topics[0].Partitions[0]
}

// A leader just elected may not have applied its predecessor's last
// entries: until it can confirm it has everything committed, it answers
// neither where an epoch ends nor that a fetch is past its log (each would
// read as a truncated log to a consumer that has read further), but
// NOT_LEADER_OR_FOLLOWER, on which the client asks again.
func TestClusterNodeBehindSendsClientsBack(t *testing.T) {
	for _, behind := range []bool{false, true} {
		ctx, seed, _ := startClusterNode(t, fakeCluster{id: [16]byte{7}, behind: behind}, "t")
		want := kerr.OffsetOutOfRange.Code // past the log, confirmed
		if behind {
			want = kerr.NotLeaderForPartition.Code
		}
		if got := fetchAt(ctx, t, seed, [16]byte{7}, 5, -1).ErrorCode; got != want {
			t.Fatalf("behind %t: fetch past the high watermark answered %d, want %d", behind, got, want)
		}
		got := endOfEpoch(ctx, t, seed, 0, 5, 5)
		if behind && (got.ErrorCode != kerr.NotLeaderForPartition.Code || got.EndOffset != -1) ||
			!behind && (got.ErrorCode != 0 || got.EndOffset != 0) {
			t.Fatalf("behind %t: end of the current epoch %+v", behind, got)
		}
	}
}

// A cluster node's listener gives each partition's leader epoch (the Raft
// term its leader leads in) and holds clients to it: a fetch, a list of
// offsets or an epoch's end asked at an older epoch than the leader's is
// FENCED_LEADER_EPOCH, at a newer one UNKNOWN_LEADER_EPOCH, at none (-1)
// or the leader's own served; an epoch's end is the high watermark for
// the current epoch and those before it, undefined after it.
func TestClusterNodeHoldsClientsToLeaderEpochs(t *testing.T) {
	fc := fakeCluster{id: [16]byte{7, 7, 7}}
	ctx, seed, _ := startClusterNode(t, fc, "t")
	var bb recordbatch.Builder
	bb.Reset(nil)
	bb.Add(0, 1, nil, []byte("v"), nil)
	pr := kmsg.NewPtrProduceRequest()
	pr.Acks, pr.TimeoutMillis = -1, 5000
	prt := kmsg.NewProduceRequestTopic()
	prt.Topic = "t"
	prp := kmsg.NewProduceRequestTopicPartition()
	prp.Partition, prp.Records = 0, bb.Finish(recordbatch.NewHeader(0))
	prt.Partitions = append(prt.Partitions, prp)
	pr.Topics = append(pr.Topics, prt)
	if r, err := seed.Request(ctx, pr); err != nil || r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("produce: %v %+v", err, r)
	}
	for _, c := range []struct {
		current int32
		code    int16
	}{{-1, 0}, {5, 0}, {4, kerr.FencedLeaderEpoch.Code}, {6, kerr.UnknownLeaderEpoch.Code}} {
		sp := fetchAt(ctx, t, seed, fc.id, 0, c.current)
		if sp.ErrorCode != c.code || (c.code == 0) != (len(sp.RecordBatches) > 0) {
			t.Fatalf("fetch at epoch %d: error %d with %d bytes, want error %d", c.current, sp.ErrorCode, len(sp.RecordBatches), c.code)
		}

		lo := kmsg.NewPtrListOffsetsRequest()
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = "t"
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp, lp.CurrentLeaderEpoch = 0, -1, c.current
		lt.Partitions = append(lt.Partitions, lp)
		lo.Topics = append(lo.Topics, lt)
		r, err := seed.Request(ctx, lo)
		if err != nil {
			t.Fatal(err)
		}
		lr := r.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if lr.ErrorCode != c.code || lr.LeaderEpoch != 5 || c.code == 0 && lr.Offset != 1 {
			t.Fatalf("list offsets at epoch %d: %+v, want error %d, epoch 5", c.current, lr, c.code)
		}
	}
	for _, c := range []struct {
		current, asked int32
		code           int16
		epoch          int32
		end            int64
	}{
		{-1, 5, 0, 5, 1}, {5, 3, 0, 3, 1}, {-1, 6, 0, -1, -1},
		{4, 5, kerr.FencedLeaderEpoch.Code, -1, -1}, {6, 5, kerr.UnknownLeaderEpoch.Code, -1, -1},
	} {
		got := endOfEpoch(ctx, t, seed, 0, c.current, c.asked)
		if got.ErrorCode != c.code || got.LeaderEpoch != c.epoch || got.EndOffset != c.end {
			t.Fatalf("end of epoch %d at epoch %d: %+v, want %+v", c.asked, c.current, got, c)
		}
	}
}

// CreateTopics on a cluster node goes through the cluster's metadata, with
// the replication factor asked for (-1: the default, said as 0) and the
// configs; nothing is created locally behind the metadata's back. Deleting
// a topic of the metadata, or adding partitions to it, goes through the
// metadata too (a count that does not grow is refused here); a local topic
// stays the node's own.
func TestClusterNodeTopicChangesGoThroughMetadata(t *testing.T) {
	ctx, seed, _ := startClusterNode(t, fakeCluster{}, "t", "local")
	ask := func(req kmsg.Request) kmsg.Response {
		t.Helper()
		resp, err := seed.Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 5000
	for _, rf := range []int16{-1, 3} {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = fmt.Sprint("rf", rf), 4, rf
		ms := "7200000"
		rt.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms", Value: &ms}}
		req.Topics = append(req.Topics, rt)
	}
	r := ask(req).(*kmsg.CreateTopicsResponse)
	for i, want := range []string{"rf-1 partitions 4 rf 0 retention 2h0m0s", "rf3 partitions 4 rf 3 retention 2h0m0s"} {
		st := r.Topics[i]
		if st.ErrorCode != kerr.NotLeaderForPartition.Code || st.ErrorMessage == nil || !strings.Contains(*st.ErrorMessage, want) {
			t.Fatalf("topic %d: %+v, message %v, want %q", i, st, st.ErrorMessage, want)
		}
	}

	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.TimeoutMillis = 5000
	for _, name := range []string{"t", "local"} {
		cp.Topics = append(cp.Topics, kmsg.CreatePartitionsRequestTopic{Topic: name, Count: 4})
	}
	cr := ask(cp).(*kmsg.CreatePartitionsResponse)
	if len(cr.Topics) != 2 || cr.Topics[0].ErrorMessage == nil || !strings.Contains(*cr.Topics[0].ErrorMessage, "fake metadata: alter t partitions 4") ||
		cr.Topics[1].ErrorCode != 0 {
		t.Fatalf("CreatePartitions: %+v", cr.Topics)
	}
	// Asked on its own: a topic named twice in one request is refused
	// whole (INVALID_REQUEST), as Kafka refuses it.
	cp.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "t", Count: 3}}
	if cr = ask(cp).(*kmsg.CreatePartitionsResponse); len(cr.Topics) != 1 || cr.Topics[0].ErrorCode != kerr.InvalidPartitions.Code {
		t.Fatalf("CreatePartitions of no growth: %+v", cr.Topics)
	}
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.TimeoutMillis = 5000
	for _, name := range []string{"t", "local"} {
		dt.Topics = append(dt.Topics, kmsg.DeleteTopicsRequestTopic{Topic: kmsg.StringPtr(name)})
	}
	dr := ask(dt).(*kmsg.DeleteTopicsResponse)
	if len(dr.Topics) != 2 || dr.Topics[0].ErrorMessage == nil || !strings.Contains(*dr.Topics[0].ErrorMessage, "fake metadata: delete t") || dr.Topics[1].ErrorCode != 0 {
		t.Fatalf("DeleteTopics: %+v", dr.Topics)
	}
	md := ask(kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
	if len(md.Topics) != 1 || *md.Topics[0].Topic != "t" || len(md.Topics[0].Partitions) != 3 {
		t.Fatalf("topics left: %+v", md.Topics)
	}
}

// A topic this node's broker does not hold is UNKNOWN_TOPIC_OR_PARTITION
// in Metadata only once the cluster's metadata confirms it does not exist;
// while it has it (this node has not created it yet) or cannot confirm
// (no read point: the node just started, maybe on an empty disk) it is
// LEADER_NOT_AVAILABLE, which clients retry for as long as they wait:
// franz-go fails a record after four UNKNOWN_TOPIC_OR_PARTITION answers.
func TestClusterMetadataConfirmsUnknownTopics(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fc    fakeCluster
		topic string
		want  int16
	}{
		{"confirmed absent", fakeCluster{}, "ghost", kerr.UnknownTopicOrPartition.Code},
		{"in the metadata, not yet here", fakeCluster{}, "t", kerr.LeaderNotAvailable.Code},
		{"no read point", fakeCluster{behind: true}, "ghost", kerr.LeaderNotAvailable.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, seed, _ := startClusterNode(t, tc.fc) // holds no topic
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(tc.topic)
			req.Topics = append(req.Topics, rt)
			r, err := seed.Request(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			md := r.(*kmsg.MetadataResponse)
			if len(md.Topics) != 1 || md.Topics[0].ErrorCode != tc.want {
				t.Fatalf("metadata of %s: %+v, want error %d", tc.topic, md.Topics, tc.want)
			}
		})
	}
}

// A Metadata request for every topic is answered by a cluster node only
// once its broker holds every topic of the cluster: a node just started
// on an empty disk listed none, which tells a client subscribing by
// pattern, or a tool listing topics, that the cluster has none. Kafka has
// no error for it; the connection is closed, as a broker not serving yet.
func TestClusterMetadataOfAllTopicsWaitsForTheTopics(t *testing.T) {
	for _, uncaught := range []bool{false, true} {
		ctx, seed, _ := startClusterNode(t, fakeCluster{uncaught: uncaught}, "t")
		r, err := seed.Request(ctx, kmsg.NewPtrMetadataRequest()) // Topics nil: all
		switch {
		case uncaught && err == nil:
			t.Fatalf("not caught up: answered %+v, want the connection closed", r.(*kmsg.MetadataResponse).Topics)
		case !uncaught && (err != nil || len(r.(*kmsg.MetadataResponse).Topics) != 1):
			t.Fatalf("caught up: %v %+v, want topic t", err, r)
		}
	}
}
