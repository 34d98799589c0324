package kafka_test

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetDelete (kafka-consumer-groups --delete-offsets) forgets a group's
// committed offsets of the partitions named, and only those, while the
// group has members too, but for the partitions of a topic a member
// subscribes to (GROUP_SUBSCRIBED_TO_TOPIC); an unknown group is
// GROUP_ID_NOT_FOUND, an unknown partition UNKNOWN_TOPIC_OR_PARTITION. It
// was not served (the connection was closed), then refused every
// partition of a group with members: the offsets of a topic a live group
// no longer consumes, which the API exists to drop, stayed.
func TestOffsetDelete(t *testing.T) {
	p := start(t)
	cl := p.client(t)
	createTopic(t, cl, "od", 2)
	createTopic(t, cl, "stale", 1)
	if codes := commit(t, cl, "od-group", "", -1, commitOf{"od", 0, 0, nil}, commitOf{"od", 1, 0, nil}, commitOf{"stale", 0, 0, nil}); !slices.Equal(codes, []int16{0, 0, 0}) {
		t.Fatalf("commit: codes %v", codes)
	}
	if g, codes := deleteOffsets(t, cl, "od-group", "od", 1); g != 0 || !slices.Equal(codes, []int16{0}) {
		t.Fatalf("delete od/1: group code %d, partition codes %v", g, codes)
	}
	if got := fetchOffsets(t, cl, "od-group", "od", 0, 1); !slices.Equal(got, []int64{0, -1}) {
		t.Fatalf("committed after deleting od/1: %v, want od/0 at 0 and od/1 none (-1)", got)
	}
	if g, _ := deleteOffsets(t, cl, "nobody", "od", 0); g != kerr.GroupIDNotFound.Code {
		t.Fatalf("unknown group: code %d, want GROUP_ID_NOT_FOUND", g)
	}
	if code, body := httpDo(t, p, "POST", "/groups/od-group/join", `{"topics":["od"]}`); code != 200 {
		t.Fatalf("join: %d %s", code, body)
	}
	subscribed, unknown := kerr.GroupSubscribedToTopic.Code, kerr.UnknownTopicOrPartition.Code
	if _, codes := deleteOffsets(t, cl, "od-group", "od", 0, 7); !slices.Equal(codes, []int16{subscribed, unknown}) {
		t.Fatalf("group with a member of od: codes %v, want GROUP_SUBSCRIBED_TO_TOPIC, UNKNOWN_TOPIC_OR_PARTITION", codes)
	}
	if g, codes := deleteOffsets(t, cl, "od-group", "stale", 0); g != 0 || !slices.Equal(codes, []int16{0}) {
		t.Fatalf("a topic no member subscribes to: group code %d, codes %v", g, codes)
	}
	if got := fetchOffsets(t, cl, "od-group", "stale", 0); !slices.Equal(got, []int64{-1}) {
		t.Fatalf("stale/0 after its deletion: %v, want none (-1)", got)
	}
	// A topic named twice: each partition answered for itself.
	twice := kmsg.NewPtrOffsetDeleteRequest()
	twice.Group = "od-group"
	for _, part := range []int32{7, 0} {
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = "stale"
		rp := kmsg.NewOffsetDeleteRequestTopicPartition()
		rp.Partition = part
		rt.Partitions = append(rt.Partitions, rp)
		twice.Topics = append(twice.Topics, rt)
	}
	resp, err := twice.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if c7, c0 := resp.Topics[0].Partitions[0].ErrorCode, resp.Topics[1].Partitions[0].ErrorCode; c7 != unknown || c0 != 0 {
		t.Fatalf("stale named twice: stale/7 code %d, stale/0 code %d; want UNKNOWN_TOPIC_OR_PARTITION and 0", c7, c0)
	}
}

// A classic group's members' subscriptions, which only the Kafka listener
// knows, keep their topics' offsets; another topic's go while they
// consume.
func TestOffsetDeleteWhileClassicMembersConsume(t *testing.T) {
	p := start(t)
	admin := p.client(t)
	createTopic(t, admin, "live", 1)
	createTopic(t, admin, "gone", 1)
	if codes := commit(t, admin, "cg", "", -1, commitOf{"live", 0, 0, nil}, commitOf{"gone", 0, 0, nil}); !slices.Equal(codes, []int16{0, 0}) {
		t.Fatalf("commit: codes %v", codes)
	}
	prod := p.client(t, kgo.DefaultProduceTopic("live"))
	if err := prod.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cons := p.client(t, kgo.ConsumerGroup("cg"), kgo.ConsumeTopics("live"), kgo.DisableAutoCommit())
	if fs := cons.PollFetches(ctxT(t)); fs.NumRecords() != 1 { // a member now
		t.Fatalf("polled %d records: %v", fs.NumRecords(), fs.Errors())
	}
	if g, codes := deleteOffsets(t, admin, "cg", "live", 0); g != 0 || !slices.Equal(codes, []int16{kerr.GroupSubscribedToTopic.Code}) {
		t.Fatalf("the members' topic: group code %d, codes %v", g, codes)
	}
	if g, codes := deleteOffsets(t, admin, "cg", "gone", 0); g != 0 || !slices.Equal(codes, []int16{0}) {
		t.Fatalf("another topic: group code %d, codes %v", g, codes)
	}
	if got := fetchOffsets(t, admin, "cg", "gone", 0); !slices.Equal(got, []int64{-1}) {
		t.Fatalf("gone/0 after its deletion: %v, want none (-1)", got)
	}
}

// deleteOffsets sends OffsetDelete for partitions of topic and returns the
// group's code and each partition's.
func deleteOffsets(t *testing.T, cl *kgo.Client, group, topic string, partitions ...int32) (int16, []int16) {
	t.Helper()
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = group
	rt := kmsg.NewOffsetDeleteRequestTopic()
	rt.Topic = topic
	for _, part := range partitions {
		rp := kmsg.NewOffsetDeleteRequestTopicPartition()
		rp.Partition = part
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	var codes []int16
	for _, st := range resp.Topics {
		for _, sp := range st.Partitions {
			codes = append(codes, sp.ErrorCode)
		}
	}
	return resp.ErrorCode, codes
}
