package client

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// TestEnqueueAllocatesNothingPerRecord: a record is encoded into its
// partition's open batch with no allocation of its own (buffers and
// requests are taken once per batch), whichever way its partition is
// chosen.
func TestEnqueueAllocatesNothingPerRecord(t *testing.T) {
	p := &Producer{
		cfg:     ProducerConfig{BatchBytes: 1 << 20, BufferBytes: 1 << 30, MetadataMaxAge: time.Hour, Linger: time.Hour},
		topics:  map[string]*topicState{"t": {partitions: 4, fetchedAt: time.Now()}},
		pending: make(map[uint64]struct{}),
		wake:    make(chan struct{}, 1),
		asked:   true,
		pid:     -1,
	}
	part := int32(2)
	value := bytes.Repeat([]byte("x"), 100)
	recs := []*Record{
		{Value: value},
		{Key: []byte("key"), Value: value, Headers: []Header{{Key: "h", Value: []byte("v")}}},
		{Value: value, Partition: &part, Timestamp: time.UnixMilli(1_700_000_000_000)},
	}
	cb := func(Position, error) {}
	ctx := context.Background()
	for _, rec := range recs {
		if err := p.enqueue(ctx, "t", rec, cb); err != nil { // opens the batch
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(2000, func() {
			if err := p.enqueue(ctx, "t", rec, cb); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("record %+v: %v allocations per record", rec, n)
		}
	}
}
