package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// CreatePartitions answers a validate-only request as it would answer the
// change (kadm's ValidateCreatePartitions said 5000 partitions of a
// broker of at most 1024 would be fine), and refuses a topic named twice
// (INVALID_REQUEST, as Kafka: both entries were applied, in turn), on
// topic "t" of one partition, under a maximum of 8.
func TestCreatePartitionsAnswersAsTheChange(t *testing.T) {
	s := serveFresh(t, func(c *broker.Config) { c.MaxPartitions = 8 }, Options{}, nil)
	defer s.stop(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type entry struct {
		topic string
		count int32
	}
	for _, tc := range []struct {
		name         string
		entries      []entry
		validateOnly bool
		want         []int16
		partitions   int32 // of "t" after
	}{
		{"validate past the maximum", []entry{{"t", 9}}, true, []int16{kerr.InvalidPartitions.Code}, 1},
		{"past the maximum", []entry{{"t", 9}}, false, []int16{kerr.InvalidPartitions.Code}, 1},
		{"validate no increase", []entry{{"t", 1}}, true, []int16{kerr.InvalidPartitions.Code}, 1},
		{"validate unknown topic", []entry{{"nosuch", 2}}, true, []int16{kerr.UnknownTopicOrPartition.Code}, 1},
		{"validate a growth", []entry{{"t", 8}}, true, []int16{0}, 1},
		{"validate named twice", []entry{{"t", 2}, {"t", 3}}, true, []int16{kerr.InvalidRequest.Code, kerr.InvalidRequest.Code}, 1},
		{"named twice", []entry{{"t", 2}, {"t", 3}}, false, []int16{kerr.InvalidRequest.Code, kerr.InvalidRequest.Code}, 1},
		{"a growth", []entry{{"t", 4}}, false, []int16{0}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrCreatePartitionsRequest()
			req.ValidateOnly = tc.validateOnly
			for _, e := range tc.entries {
				rt := kmsg.NewCreatePartitionsRequestTopic()
				rt.Topic, rt.Count = e.topic, e.count
				req.Topics = append(req.Topics, rt)
			}
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Topics) != len(tc.want) {
				t.Fatalf("%d answers, want %d", len(resp.Topics), len(tc.want))
			}
			for i, rt := range resp.Topics {
				if rt.ErrorCode != tc.want[i] {
					t.Errorf("answer %d (%s): %v, want %v", i, rt.Topic, kerr.ErrorForCode(rt.ErrorCode), kerr.ErrorForCode(tc.want[i]))
				}
			}
			ti, err := s.br.Topic("t")
			if err != nil {
				t.Fatal(err)
			}
			if ti.Config.Partitions != tc.partitions {
				t.Fatalf("%d partitions after, want %d", ti.Config.Partitions, tc.partitions)
			}
		})
	}
}
