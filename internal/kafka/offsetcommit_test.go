package kafka_test

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A commit's refusal of one partition (an offset past the high watermark,
// a partition or topic that does not exist) refuses that partition only:
// the others are committed, as Kafka answers partition by partition. The
// whole commit was refused, so one bad offset cost a consumer the
// progress of all its partitions (found with confluent-kafka's commit).
func TestCommitRefusesPartitionByPartition(t *testing.T) {
	p := start(t)
	cl := p.client(t, kgo.DefaultProduceTopic("pp"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, cl, "pp", 2)
	for part := range int32(2) {
		for range 10 {
			if err := cl.ProduceSync(ctxT(t), &kgo.Record{Partition: part, Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = "pp-group", -1
	for _, c := range []struct {
		topic  string
		part   int32
		offset int64
	}{{"pp", 0, 7}, {"pp", 1, 100_000}, {"pp", 5, 1}, {"nope", 0, 1}} {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = c.topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = c.part, c.offset
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	var codes []int16
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			codes = append(codes, rp.ErrorCode)
		}
	}
	unknown := kerr.UnknownTopicOrPartition.Code
	if want := []int16{0, kerr.OffsetOutOfRange.Code, unknown, unknown}; !slices.Equal(codes, want) {
		t.Fatalf("commit codes %v, want %v", codes, want)
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Group = "pp-group"
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic, ft.Partitions = "pp", []int32{0, 1}
	fetch.Topics = append(fetch.Topics, ft)
	fresp, err := fetch.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if got := fresp.Topics[0].Partitions; got[0].Offset != 7 || got[1].Offset != -1 {
		t.Fatalf("committed %d and %d, want 7 and none (-1)", got[0].Offset, got[1].Offset)
	}
}
