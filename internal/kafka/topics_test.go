package kafka_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func metadataTopic(t *testing.T, cl *kgo.Client, name string) kmsg.MetadataResponseTopic {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(name)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0]
}

// Topic IDs: Metadata reports the ID CreateTopics gave, the same after a
// restart, and a new one once the topic is deleted and created again.
func TestTopicIDsStable(t *testing.T) {
	p := start(t)
	cl := p.client(t)
	id := createTopic(t, cl, "ids", 2)
	if id == [16]byte{} {
		t.Fatal("CreateTopics gave no topic ID")
	}
	mt := metadataTopic(t, cl, "ids")
	if mt.TopicID != id || len(mt.Partitions) != 2 || mt.ErrorCode != 0 {
		t.Fatalf("metadata %+v, want id %x and 2 partitions", mt, id)
	}
	cl.Close()
	p.Restart()
	cl = p.client(t)
	if got := metadataTopic(t, cl, "ids").TopicID; got != id {
		t.Fatalf("after a restart the ID is %x, want %x", got, id)
	}
	del := kmsg.NewPtrDeleteTopicsRequest()
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr("ids")
	del.Topics, del.TopicNames = append(del.Topics, dt), []string{"ids"}
	dresp, err := del.RequestWith(ctxT(t), cl)
	if err != nil || dresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("delete: %v %+v", err, dresp)
	}
	if code := metadataTopic(t, cl, "ids").ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("deleted topic: code %d", code)
	}
	id2 := createTopic(t, cl, "ids", 2)
	if id2 == id {
		t.Fatal("a topic created again kept its old ID")
	}
	// CreatePartitions grows it; a decrease is refused.
	cp := kmsg.NewPtrCreatePartitionsRequest()
	ct := kmsg.NewCreatePartitionsRequestTopic()
	ct.Topic, ct.Count = "ids", 4
	cp.Topics = append(cp.Topics, ct)
	cresp, err := cp.RequestWith(ctxT(t), cl)
	if err != nil || cresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create partitions: %v %+v", err, cresp)
	}
	if n := len(metadataTopic(t, cl, "ids").Partitions); n != 4 {
		t.Fatalf("%d partitions after CreatePartitions to 4", n)
	}
	cp.Topics[0].Count = 3
	if cresp, _ = cp.RequestWith(ctxT(t), cl); cresp.Topics[0].ErrorCode != kerr.InvalidPartitions.Code {
		t.Fatalf("decrease: code %d, want INVALID_PARTITIONS", cresp.Topics[0].ErrorCode)
	}
	if code := createTopicCode(t, cl, "ids", 1); code != kerr.TopicAlreadyExists.Code {
		t.Fatalf("create again: code %d, want TOPIC_ALREADY_EXISTS", code)
	}
}

func createTopicCode(t *testing.T, cl *kgo.Client, name string, partitions int32) int16 {
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].ErrorCode
}

// ListOffsets: earliest, latest and by time (none that new: -1, as Kafka).
func TestListOffsets(t *testing.T) {
	p := start(t)
	cl := p.client(t, kgo.DefaultProduceTopic("lo"))
	createTopic(t, cl, "lo", 1)
	for i := range 5 {
		r := &kgo.Record{Value: []byte{byte(i)}, Timestamp: timeAt(int64(i) * 1000)}
		if err := cl.ProduceSync(ctxT(t), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		ts, want, wantTS int64
	}{{-2, 0, -1}, {-1, 5, -1}, {timeAt(2500).UnixMilli(), 3, timeAt(3000).UnixMilli()}, {timeAt(9000).UnixMilli(), -1, -1}} {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "lo"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = tc.ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != 0 || sp.Offset != tc.want || (tc.wantTS >= 0 && sp.Timestamp != tc.wantTS) {
			t.Fatalf("timestamp %d: offset %d ts %d code %d, want offset %d ts %d", tc.ts, sp.Offset, sp.Timestamp, sp.ErrorCode, tc.want, tc.wantTS)
		}
	}
}

// DescribeConfigs shows a topic's settings under Kafka's names;
// OffsetForLeaderEpoch ends epoch 0 at the high watermark.
func TestDescribeConfigsAndLeaderEpoch(t *testing.T) {
	p := start(t)
	cl := p.client(t, kgo.DefaultProduceTopic("cfg"))
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "cfg", 1, -1
	for _, c := range [][2]string{{"retention.ms", "7200000"}, {"goqueue.fsync", "always"}} {
		rc := kmsg.NewCreateTopicsRequestTopicConfig()
		rc.Name, rc.Value = c[0], kmsg.StringPtr(c[1])
		rt.Configs = append(rt.Configs, rc)
	}
	req.Topics = append(req.Topics, rt)
	if resp, err := req.RequestWith(ctxT(t), cl); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create with configs: %v %+v", err, resp)
	}
	rt.Topic, rt.Configs[0].Name = "cfg2", "compression.type"
	if resp, _ := req.RequestWith(ctxT(t), cl); resp.Topics[0].ErrorCode != kerr.InvalidConfig.Code {
		t.Fatalf("unsupported config: code %d, want INVALID_CONFIG", resp.Topics[0].ErrorCode)
	}
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeTopic, "cfg"
	dc.Resources = append(dc.Resources, dr)
	dresp, err := dc.RequestWith(ctxT(t), cl)
	if err != nil || dresp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe configs: %v %+v", err, dresp)
	}
	got := map[string]string{}
	for _, c := range dresp.Resources[0].Configs {
		got[c.Name] = *c.Value
	}
	if got["retention.ms"] != "7200000" || got["goqueue.fsync"] != "always" {
		t.Fatalf("configs %v", got)
	}
	if err := cl.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("x")}, &kgo.Record{Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	oe := kmsg.NewPtrOffsetForLeaderEpochRequest()
	ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
	ot.Topic = "cfg"
	op := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	op.LeaderEpoch = 0
	ot.Partitions = append(ot.Partitions, op)
	oe.Topics = append(oe.Topics, ot)
	oresp, err := oe.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if sp := oresp.Topics[0].Partitions[0]; sp.ErrorCode != 0 || sp.EndOffset != 2 || sp.LeaderEpoch != 0 {
		t.Fatalf("offset for leader epoch: %+v", sp)
	}
}
