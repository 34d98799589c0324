package kafka_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The metadata string committed with an offset comes back from
// OffsetFetch, after a restart too, from a commit without member as from
// a KIP-848 member's; one over 4096 bytes is refused
// OFFSET_METADATA_TOO_LARGE (Kafka's default offset.metadata.max.bytes)
// and its offset with it; a partition without metadata or without offset
// answers "", as Kafka does. Metadata was dropped: OffsetFetch answered
// null for every partition.
func TestCommitMetadataKept(t *testing.T) {
	p := start(t)
	cl := p.client(t, kgo.DefaultProduceTopic("om"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, cl, "om", 3)
	for part := range int32(3) {
		for range 10 {
			if err := cl.ProduceSync(ctxT(t), &kgo.Record{Partition: part, Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A KIP-848 member of its own group, owning the topic's partitions.
	join := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	join.Group, join.MemberID, join.RebalanceTimeoutMillis = "om-848", "m1", 5000
	join.SubscribedTopicNames, join.Topics = []string{"om"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	joined, err := join.RequestWith(ctxT(t), cl)
	if err != nil || joined.ErrorCode != 0 {
		t.Fatalf("join: %v %+v", err, joined)
	}
	long := strings.Repeat("x", 4097)
	for _, c := range []struct {
		group, member string
		generation    int32
	}{
		{"om-free", "", -1},
		{"om-848", "m1", joined.MemberEpoch},
	} {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.MemberID, req.Generation = c.group, c.member, c.generation
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "om"
		for i, m := range []*string{kmsg.StringPtr("state-0"), nil, &long} {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.Metadata = int32(i), int64(5-i), m
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		var codes []int16
		for _, sp := range resp.Topics[0].Partitions {
			codes = append(codes, sp.ErrorCode)
		}
		if want := []int16{0, 0, kerr.OffsetMetadataTooLarge.Code}; !slices.Equal(codes, want) {
			t.Fatalf("%s: commit codes %v, want %v", c.group, codes, want)
		}
	}
	check := func(when string) {
		t.Helper()
		for _, group := range []string{"om-free", "om-848"} {
			req := kmsg.NewPtrOffsetFetchRequest()
			req.Group = group
			ft := kmsg.NewOffsetFetchRequestTopic()
			ft.Topic, ft.Partitions = "om", []int32{0, 1, 2}
			req.Topics = append(req.Topics, ft)
			resp, err := req.RequestWith(ctxT(t), p.client(t))
			if err != nil || resp.ErrorCode != 0 {
				t.Fatalf("%s: fetch %s: %v %+v", when, group, err, resp)
			}
			type got struct {
				offset int64
				meta   string
			}
			want := []got{{5, "state-0"}, {4, ""}, {-1, ""}}
			for i, sp := range resp.Topics[0].Partitions {
				if sp.Metadata == nil {
					t.Fatalf("%s: %s/%d metadata null, want %q", when, group, sp.Partition, want[i].meta)
				}
				if g := (got{sp.Offset, *sp.Metadata}); g != want[i] {
					t.Fatalf("%s: %s/%d = %+v, want %+v", when, group, sp.Partition, g, want[i])
				}
			}
		}
	}
	check("before a restart")
	p.Restart()
	check("after a restart")
}
