package kafka

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// ListOffsets refuses every entry of a partition asked more than once
// (INVALID_REQUEST, as Kafka's duplicatePartitions check does) rather than
// answer each: a client keeping one answer per partition would keep
// whichever came last. The other partitions are answered as ever.
func TestListOffsetsRefusesAPartitionAskedTwice(t *testing.T) {
	s := serveFresh(t, nil, Options{}, nil)
	defer s.stop(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.DefaultProduceTopic("t"), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := s.br.CreateTopic(broker.TopicSpec{Name: "u", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for i := range 3 { // offsets 0, 1, 2 at base + 0, 1, 2 s
		r := &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	at := func(s int) int64 { return base.Add(time.Duration(s) * time.Second).UnixMilli() }
	type ask struct {
		topic string
		ts    int64
	}
	type answer struct {
		code   int16
		offset int64
	}
	invalid := answer{kerr.InvalidRequest.Code, -1}
	for _, tc := range []struct {
		name string
		asks []ask // each of partition 0, in a topic entry of its own
		want map[string][]answer
	}{
		{"once", []ask{{"t", at(1)}}, map[string][]answer{"t": {{0, 1}}}},
		{"a time and a later one", []ask{{"t", at(1)}, {"t", at(9)}}, map[string][]answer{"t": {invalid, invalid}}},
		{"latest twice", []ask{{"t", -1}, {"t", -1}}, map[string][]answer{"t": {invalid, invalid}}},
		{"another partition twice", []ask{{"t", -2}, {"u", -1}, {"u", -2}}, map[string][]answer{"t": {{0, 0}}, "u": {invalid, invalid}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrListOffsetsRequest()
			req.ReplicaID = -1
			for _, a := range tc.asks {
				rt := kmsg.NewListOffsetsRequestTopic()
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rt.Topic, rp.Timestamp = a.topic, a.ts
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
			}
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			// kgo may merge the answers of its requests per broker in
			// another order of topics: compared per topic.
			got := map[string][]answer{}
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					got[rt.Topic] = append(got[rt.Topic], answer{rp.ErrorCode, rp.Offset})
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("answers %v, want %v", got, tc.want)
			}
		})
	}
}
