package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// Reads that decompress stored batches (a fetch from an offset or a
// timestamp, a Kafka ListOffsets by time, a DLQ replay) take their share
// of the budget that checks of produced batches take, and give it back: a
// full budget makes them TOO_MANY_REQUESTS, never an internal or storage
// error. Reads once decompressed outside any budget, so N readers of a
// compressed topic held N whole decompressed batches.
func TestReadsOfCompressedBatchesShareTheBudget(t *testing.T) {
	b := mustOpen(t, testConfig(t))
	defer b.Close()
	if _, err := b.CreateTopic(TopicSpec{Name: "z", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	var recs []recordbatch.Record
	for i := range 50 {
		recs = append(recs, recordbatch.Record{Value: fmt.Appendf(nil, "%04d%s", i, bytes.Repeat([]byte("v"), 1<<10))})
	}
	batch, err := recordbatch.Build(nil, recordbatch.NewHeader(0), recordbatch.Zstd, recs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AppendBatch("z", 0, batch); err != nil {
		t.Fatal(err)
	}
	reads := []struct {
		name string
		read func() error
	}{
		{"fetch", func() error {
			res, err := b.Fetch(context.Background(), "z", FetchRequest{Offset: 10, MaxMessages: 1, MaxBytes: 1})
			if err == nil && (len(res.Records) != 1 || !bytes.HasPrefix(res.Records[0].Value, []byte("0010"))) {
				return fmt.Errorf("fetched %d records", len(res.Records))
			}
			return err
		}},
		{"fetch by timestamp", func() error {
			_, err := b.Fetch(context.Background(), "z", FetchRequest{ByTimestamp: true, Timestamp: 0, MaxMessages: 1, MaxBytes: 1})
			return err
		}},
		{"offset for time", func() error {
			_, _, err := b.OffsetForTime("z", 0, 0)
			return err
		}},
	}
	for _, r := range reads {
		if err := r.read(); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if n := b.decompress.Used(); n != 0 {
			t.Fatalf("%s: %d bytes of the budget still held after the read", r.name, n)
		}
	}
	all := b.decompress.Max()
	if !b.decompress.Take(all) {
		t.Fatal("could not take the whole budget")
	}
	for _, r := range reads {
		if err := r.read(); !errors.Is(err, api.ErrTooManyRequests) {
			t.Errorf("%s with the budget spent: %v; want TOO_MANY_REQUESTS", r.name, err)
		}
	}
	b.decompress.Give(all)
	for _, r := range reads {
		if err := r.read(); err != nil {
			t.Fatalf("%s once the budget is back: %v", r.name, err)
		}
	}
}
