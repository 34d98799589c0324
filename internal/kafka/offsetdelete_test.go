package kafka_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetDelete (kafka-consumer-groups --delete-offsets) forgets a group's
// committed offsets of the partitions named, and only those; a group with
// members answers GROUP_SUBSCRIBED_TO_TOPIC, an unknown one
// GROUP_ID_NOT_FOUND. It was not served: the connection was closed.
func TestOffsetDelete(t *testing.T) {
	p := start(t)
	cl := p.client(t)
	createTopic(t, cl, "od", 2)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation = "od-group", -1
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "od"
	for part := range int32(2) {
		cp := kmsg.NewOffsetCommitRequestTopicPartition()
		cp.Partition, cp.Offset = part, 0
		ct.Partitions = append(ct.Partitions, cp)
	}
	commit.Topics = append(commit.Topics, ct)
	if resp, err := commit.RequestWith(ctxT(t), cl); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %v %+v", err, resp)
	}
	del := func(group string, partition int32) (int16, int16) {
		t.Helper()
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = group
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = "od"
		rp := kmsg.NewOffsetDeleteRequestTopicPartition()
		rp.Partition = partition
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) == 0 {
			return resp.ErrorCode, 0
		}
		return resp.ErrorCode, resp.Topics[0].Partitions[0].ErrorCode
	}
	if g, part := del("od-group", 1); g != 0 || part != 0 {
		t.Fatalf("delete od/1: group code %d, partition code %d", g, part)
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Group = "od-group"
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic, ft.Partitions = "od", []int32{0, 1}
	fetch.Topics = append(fetch.Topics, ft)
	fresp, err := fetch.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int32]int64{}
	for _, fp := range fresp.Topics[0].Partitions {
		got[fp.Partition] = fp.Offset
	}
	if got[0] != 0 || got[1] != -1 {
		t.Fatalf("committed after deleting od/1: %v, want od/0 at 0 and od/1 none (-1)", got)
	}
	if g, _ := del("nobody", 0); g != kerr.GroupIDNotFound.Code {
		t.Fatalf("unknown group: code %d, want GROUP_ID_NOT_FOUND", g)
	}
	if code, body := httpDo(t, p, "POST", "/groups/od-group/join", `{"topics":["od"]}`); code != 200 {
		t.Fatalf("join: %d %s", code, body)
	}
	if _, part := del("od-group", 0); part != kerr.GroupSubscribedToTopic.Code {
		t.Fatalf("group with a member: partition code %d, want GROUP_SUBSCRIBED_TO_TOPIC", part)
	}
}
