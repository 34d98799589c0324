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
	b := compressedTopic(t)
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

// A group poll (JSON or stored) of a compressed topic takes its share of
// the decompression budget for as long as it runs: with the budget spent
// it is TOO_MANY_REQUESTS, and the messages it had taken are handed back
// (deliverable at once, no retry spent; their delivery count, which counts
// hand-backs as every handoff, says 2), so the next poll gets them. Polls once decompressed outside any budget, and a
// JSON answer kept the whole decompressed batch for one message of it.
func TestGroupPollsOfCompressedBatchesShareTheBudget(t *testing.T) {
	for _, stored := range []bool{false, true} {
		t.Run(fmt.Sprintf("stored=%v", stored), func(t *testing.T) {
			b := compressedTopic(t)
			j, err := b.JoinGroup("g", JoinParams{MemberID: "a", Topics: []string{"z"}}, "h")
			if err != nil {
				t.Fatal(err)
			}
			poll := func() (int, error) {
				req := PollParams{MemberID: "a", Generation: j.Generation, MaxMessages: 1, MaxBytes: 1 << 20}
				if !stored {
					ds, err := b.Poll(context.Background(), "g", req, "h")
					for _, d := range ds {
						if d.DeliveryCount != 2 || !bytes.HasPrefix(d.Record.Value, []byte("0000")) {
							t.Errorf("delivered offset %d, value %.4q, delivery %d; want offset 0, after one hand-back", d.Record.Offset, d.Record.Value, d.DeliveryCount)
						}
					}
					return len(ds), err
				}
				parts, err := b.PollStored(context.Background(), "g", req, "h")
				defer ReleaseStored(parts)
				n := 0
				for _, p := range parts {
					for _, r := range p.Ranges {
						if r.First != 0 || r.DeliveryCount != 2 {
							t.Errorf("delivered offsets %d..%d, delivery %d; want offset 0, after one hand-back", r.First, r.Last, r.DeliveryCount)
						}
						n += int(r.Last - r.First + 1)
					}
				}
				return n, err
			}
			all := b.decompress.Max()
			if !b.decompress.Take(all) {
				t.Fatal("could not take the whole budget")
			}
			if n, err := poll(); !errors.Is(err, api.ErrTooManyRequests) || n != 0 {
				t.Fatalf("poll with the budget spent: %d messages, %v; want none, TOO_MANY_REQUESTS", n, err)
			}
			b.decompress.Give(all)
			if n, err := poll(); err != nil || n != 1 {
				t.Fatalf("poll once the budget is back: %d messages, %v; want 1", n, err)
			}
			if n := b.decompress.Used(); n != 0 {
				t.Fatalf("%d bytes of the budget still held after the poll", n)
			}
		})
	}
}

// compressedTopic opens a broker (closed when t ends) holding topic "z" of
// one partition, and in it one zstd batch of 50 records of about 1 KiB.
func compressedTopic(t *testing.T) *Broker {
	t.Helper()
	b := mustOpen(t, testConfig(t))
	t.Cleanup(func() { b.Close() })
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
	return b
}
