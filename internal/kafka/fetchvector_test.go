package kafka_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Fetch responses whose batches go out by writev, next to the response's
// own fields (see appendFetch): several large partitions per response,
// within partition and response byte limits, in a flexible fetch version
// and in an older one. Every record comes back whole and in order.
func TestFetchOfLargeBatchesComesBackWhole(t *testing.T) {
	p := start(t)
	const topic, n = "big", 4000
	createTopic(t, p.client(t), topic, 4)
	value := func(i int) []byte {
		return append(fmt.Appendf(nil, "%06d:", i), bytes.Repeat([]byte{byte('a' + i%26)}, 1000)...)
	}
	prod := p.client(t, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := range n {
		prod.Produce(ctxT(t), &kgo.Record{Key: fmt.Appendf(nil, "%d", i%4), Value: value(i)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := prod.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]kgo.Opt{
		"flexible":      {kgo.FetchMaxPartitionBytes(256 << 10)},
		"small budget":  {kgo.FetchMaxBytes(300 << 10), kgo.FetchMaxPartitionBytes(200 << 10)},
		"fetch v11":     {kgo.MaxVersions(kversion.V2_8_0()), kgo.FetchMaxPartitionBytes(256 << 10)},
		"one at a time": {kgo.FetchMaxPartitionBytes(1)},
	} {
		t.Run(name, func(t *testing.T) {
			recs := consumeAll(t, p, topic, n, opts...)
			next := map[int32]int64{}
			for _, r := range recs {
				if r.Offset != next[r.Partition] {
					t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
				}
				next[r.Partition]++
				var i int
				if _, err := fmt.Sscanf(string(r.Value), "%06d:", &i); err != nil || !bytes.Equal(r.Value, value(i)) {
					t.Fatalf("partition %d offset %d: value %.20q… of %d bytes is not record %d's", r.Partition, r.Offset, r.Value, len(r.Value), i)
				}
			}
			if len(recs) != n {
				t.Fatalf("consumed %d records, want %d", len(recs), n)
			}
		})
	}
}
