package broker

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// idemFrame is a batch of n records of producer pid at epoch, sequences
// from seq, for partition part.
func idemFrame(part int32, pid int64, epoch int16, seq int32, n int) Frame {
	var bld recordbatch.Builder
	bld.Reset(nil)
	for range n {
		bld.Add(0, 1, nil, []byte("v"), nil)
	}
	h := recordbatch.NewHeader(0)
	h.ProducerID, h.ProducerEpoch, h.BaseSequence = pid, epoch, seq
	return Frame{Partition: part, Batch: bld.Finish(h)}
}

// TestPublishBatchesChecksSequences: the binary path applies the Kafka
// listener's idempotence rules: a batch sent again is answered with its
// first offset and not written; a gap or an older epoch refuses the whole
// request (nothing of it written); a new epoch starts over; batches
// without a producer ID are not checked; the state survives a restart.
func TestPublishBatchesChecksSequences(t *testing.T) {
	cfg := testConfig(t)
	b := mustOpen(t, cfg)
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	pid, err := b.NewProducerID(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	publish := func(frames ...Frame) ([]Position, error) { return b.PublishBatches("t", frames) }
	hwm := func(part int32) int64 {
		_, h, err := b.PartitionBounds("t", part)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	first, err := publish(idemFrame(0, pid, 0, 0, 3), idemFrame(1, pid, 0, 0, 2))
	if err != nil || first[0].Offset != 0 || first[1].Offset != 0 {
		t.Fatalf("first request: %v %v", first, err)
	}
	if _, err := publish(idemFrame(0, pid, 0, 3, 2)); err != nil {
		t.Fatal(err)
	}
	// The first request again (its answer was lost): the same offsets, nothing written.
	again, err := publish(idemFrame(0, pid, 0, 0, 3), idemFrame(1, pid, 0, 0, 2))
	if err != nil || again[0] != first[0] || again[1] != first[1] || hwm(0) != 5 || hwm(1) != 2 {
		t.Fatalf("duplicate: %v %v, high watermarks %d %d; want %v and 5 2", again, err, hwm(0), hwm(1), first)
	}
	// A gap on partition 0 refuses partition 1's good batch too.
	_, err = publish(idemFrame(1, pid, 0, 2, 1), idemFrame(0, pid, 0, 9, 1))
	var e *api.Error
	if !errors.Is(err, api.ErrOutOfOrderSequence) || !errors.As(err, &e) || e.Details["expected_sequence"] != int32(5) || e.Details["index"] != 1 {
		t.Fatalf("gap: %v, want OUT_OF_ORDER_SEQUENCE expecting 5 at index 1", err)
	}
	if hwm(1) != 2 {
		t.Fatalf("partition 1 written by a refused request: high watermark %d", hwm(1))
	}
	// A new epoch starts over; the old one is then refused.
	if _, err := publish(idemFrame(0, pid, 1, 0, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := publish(idemFrame(0, pid, 0, 5, 1)); !errors.Is(err, api.ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch: %v, want INVALID_PRODUCER_EPOCH", err)
	}
	// No producer ID: no checks.
	for range 2 {
		if _, err := publish(idemFrame(0, -1, -1, -1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	// Two idempotent batches of one partition in one request are refused.
	if _, err := publish(idemFrame(1, pid, 0, 2, 1), idemFrame(1, pid, 0, 3, 1)); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("one partition twice: %v", err)
	}

	// After a restart the tail of the log tells the sequences again.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = mustOpen(t, cfg)
	defer b.Close()
	again, err = b.PublishBatches("t", []Frame{idemFrame(0, pid, 1, 0, 1)})
	if err != nil || again[0].Offset != 5 {
		t.Fatalf("duplicate after a restart: %v %v, want offset 5", again, err)
	}
	if _, err := b.PublishBatches("t", []Frame{idemFrame(1, pid, 0, 3, 1)}); !errors.Is(err, api.ErrOutOfOrderSequence) {
		t.Fatalf("gap after a restart: %v", err)
	}
}

// A published frame whose header claims a MaxTimestamp other than its
// records' largest is stored with theirs, as the Kafka listener's batches
// are: the claim was stored as sent, and the segment's index, built from
// the records, then failed its check against the headers at every start.
func TestPublishBatchesStoreTrueMaxTimestamp(t *testing.T) {
	b := mustOpen(t, testConfig(t))
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	f := idemFrame(0, -1, -1, -1, 2) // records stamped 1
	binary.BigEndian.PutUint64(f.Batch[recordbatch.OffMaxTimestamp:], 5000)
	recordbatch.SetCRC(f.Batch)
	if _, err := b.PublishBatches("t", []Frame{f}); err != nil {
		t.Fatal(err)
	}
	got, err := b.ReadBatches("t", 0, 0, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := recordbatch.CheckFrame(got.Batches)
	if err != nil || h.MaxTimestamp != 1 {
		t.Fatalf("stored header %+v, %v; want MaxTimestamp 1, the records'", h, err)
	}
}
