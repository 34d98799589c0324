package kafka_test

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeLogDirs (kafka-log-dirs, Kafka UIs' topic sizes) answers the
// broker's data directory and each partition's bytes, the same as GET
// /topics/{t} says; asked for some partitions, those. It was not served:
// the connection was closed.
func TestDescribeLogDirs(t *testing.T) {
	p := start(t)
	cl := p.client(t, kgo.DefaultProduceTopic("sized"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, cl, "sized", 2)
	createTopic(t, cl, "other", 1)
	for range 20 {
		if err := cl.ProduceSync(ctxT(t), &kgo.Record{Partition: 1, Value: make([]byte, 100)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var info struct {
		PartitionInfo []struct{ Bytes int64 } `json:"partition_info"`
	}
	if _, body := httpDo(t, p, "GET", "/topics/sized", ""); json.Unmarshal([]byte(body), &info) != nil || len(info.PartitionInfo) != 2 {
		t.Fatalf("GET /topics/sized: %s", body)
	}
	// kgo sends each partition to its leader, and a missing topic's
	// nowhere: ask this broker for all.
	node, _ := strconv.Atoi(metadataBroker(t, cl))
	b := cl.Broker(node)
	sizes := func(topics []kmsg.DescribeLogDirsRequestTopic) map[string]map[int32]int64 {
		t.Helper()
		req := kmsg.NewPtrDescribeLogDirsRequest()
		req.Topics = topics
		resp, err := req.RequestWith(ctxT(t), b)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Dirs) != 1 || resp.Dirs[0].ErrorCode != 0 || !filepath.IsAbs(resp.Dirs[0].Dir) {
			t.Fatalf("dirs %+v, want one, absolute", resp.Dirs)
		}
		got := map[string]map[int32]int64{}
		for _, dt := range resp.Dirs[0].Topics {
			got[dt.Topic] = map[int32]int64{}
			for _, dp := range dt.Partitions {
				got[dt.Topic][dp.Partition] = dp.Size
			}
		}
		return got
	}
	all := sizes(nil)
	if all["sized"][1] != info.PartitionInfo[1].Bytes || all["sized"][1] == 0 || len(all["sized"]) != 2 || len(all["other"]) != 1 {
		t.Fatalf("every topic: %v; want sized/1 at %d bytes, as GET /topics/sized says, and 3 partitions", all, info.PartitionInfo[1].Bytes)
	}
	rt := kmsg.NewDescribeLogDirsRequestTopic()
	rt.Topic, rt.Partitions = "sized", []int32{1}
	missing := kmsg.NewDescribeLogDirsRequestTopic()
	missing.Topic, missing.Partitions = "missing", []int32{0}
	if some := sizes([]kmsg.DescribeLogDirsRequestTopic{missing, rt}); len(some) != 1 || len(some["sized"]) != 1 || some["sized"][1] != all["sized"][1] {
		t.Fatalf("sized/1 and a missing topic asked for: %v", some)
	}
}
