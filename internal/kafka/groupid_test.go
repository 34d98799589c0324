package kafka_test

import (
	"errors"
	"net/url"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group IDs as Kafka takes them: a kgo consumer group named with ':', '/'
// and a space consumes and commits, and GET /groups/{id} (escaped) shows
// its offsets. They were refused by the topic names' rules, answered
// INVALID_CONFIG, and a kafka-go reader retried its join for good (found
// trying kafka-go as a user). An empty ID is INVALID_GROUP_ID, as Kafka
// answers it.
func TestGroupIDsAsKafkaTakesThem(t *testing.T) {
	p := start(t)
	cl := p.client(t)
	createTopic(t, cl, "ids", 1)
	produceN(t, cl, "ids", "v", 10)
	const group = "billing:prod/eu 1"
	cons := p.client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics("ids"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	got := 0
	for got < 10 {
		fs := cons.PollFetches(ctxT(t))
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if total, body := committed(t, p, url.PathEscape(group)); total != 10 {
		t.Fatalf("GET /groups/%s: committed %d, want 10: %s", url.PathEscape(group), total, body)
	}

	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = "", 30000, 5000, "consumer"
	jp := kmsg.NewJoinGroupRequestProtocol()
	jp.Name = "range"
	join.Protocols = append(join.Protocols, jp)
	resp, err := join.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); !errors.Is(err, kerr.InvalidGroupID) {
		t.Fatalf("join of group \"\": %v, want INVALID_GROUP_ID", err)
	}
}
