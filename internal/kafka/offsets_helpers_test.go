package kafka_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fill creates topic with partitions partitions and produces n records to
// each, so that offsets up to n can be committed.
func fill(t *testing.T, p *proc, topic string, partitions int32, n int) {
	t.Helper()
	cl := p.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, cl, topic, partitions)
	for part := range partitions {
		for range n {
			if err := cl.ProduceSync(ctxT(t), &kgo.Record{Partition: part, Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// commitOf is one partition's offset (and metadata, nil: null) in an
// OffsetCommit.
type commitOf struct {
	topic     string
	partition int32
	offset    int64
	metadata  *string
}

// commit sends an OffsetCommit of cs for group, by member at generation
// ("" and -1: no member), and returns each partition's code in order.
func commit(t *testing.T, cl *kgo.Client, group, member string, generation int32, cs ...commitOf) []int16 {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation = group, member, generation
	for _, c := range cs {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = c.topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = c.partition, c.offset, c.metadata
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
	return codes
}

// fetchCommitted returns group's committed offsets of partitions of
// topic, as OffsetFetch answers them.
func fetchCommitted(t *testing.T, cl *kgo.Client, group, topic string, partitions ...int32) []kmsg.OffsetFetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, partitions
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("fetch %s's offsets: %v %+v", group, err, resp)
	}
	return resp.Topics[0].Partitions
}

// fetchOffsets is fetchCommitted's offsets (-1: none).
func fetchOffsets(t *testing.T, cl *kgo.Client, group, topic string, partitions ...int32) []int64 {
	t.Helper()
	var got []int64
	for _, sp := range fetchCommitted(t, cl, group, topic, partitions...) {
		got = append(got, sp.Offset)
	}
	return got
}
