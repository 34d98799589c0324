package broker

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// replicaLogOf is partition 0 of a new topic "t" of a new broker, as its
// Raft state machine sees it.
func replicaLogOf(t *testing.T) (*Broker, *ReplicaLog) {
	t.Helper()
	b := mustOpen(t, testConfig(t))
	t.Cleanup(func() { b.Close() })
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	rl, err := b.ReplicaLog("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	return b, rl
}

// values reads every message of t/0 readers see.
func values(t *testing.T, b *Broker) []int64 {
	t.Helper()
	res, err := b.Fetch(context.Background(), "t", FetchRequest{Partition: 0, Offset: 0, MaxMessages: 100, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for _, r := range res.Records {
		offs = append(offs, r.Offset)
	}
	return offs
}

// A replicated partition's entry is written when Raft persists it and read
// by no one until it is applied; applied, an idempotent producer's
// duplicate and a batch with a gap keep the offsets they were written at
// but are voided (read by no one, here nor through Kafka's fetch), and a
// replica that copies the log (a catch-up) gets the same offsets and the
// same voids, so the entries after them get the same offsets everywhere.
func TestReplicaLogWritesOnceAndVoids(t *testing.T) {
	b, rl := replicaLogOf(t)
	e1 := idemFrame(0, 7, 0, 0, 2).Batch
	write := func(e []byte) int64 {
		t.Helper()
		at, _, err := rl.WriteEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	at := write(e1)
	if got := values(t, b); len(got) != 0 || rl.Committed() != 0 || rl.NextOffset() != 2 {
		t.Fatalf("before apply: read %v, committed %d, next %d", got, rl.Committed(), rl.NextOffset())
	}
	if bases, err := rl.ApplyEntry(e1, at); err != nil || !slices.Equal(bases, []int64{0}) {
		t.Fatalf("apply: %v %v", bases, err)
	}
	// The same batch again (a retry proposed while the first was in
	// flight): answered with its first offset, its copy voided.
	at = write(e1)
	if bases, err := rl.ApplyEntry(e1, at); err != nil || !slices.Equal(bases, []int64{0}) {
		t.Fatalf("duplicate: %v %v, want [0]", bases, err)
	}
	// A gap refuses the entry, voided whole.
	gap := idemFrame(0, 7, 0, 5, 1).Batch
	at = write(gap)
	if _, err := rl.ApplyEntry(gap, at); !errors.Is(err, api.ErrOutOfOrderSequence) {
		t.Fatalf("gap: %v", err)
	}
	next := idemFrame(0, 7, 0, 2, 1).Batch
	if bases, err := rl.ApplyEntry(next, -1); err != nil || !slices.Equal(bases, []int64{5}) {
		t.Fatalf("next batch, appended at apply: %v %v, want [5]", bases, err)
	}
	if got := values(t, b); !slices.Equal(got, []int64{0, 1, 5}) || rl.Committed() != 6 {
		t.Fatalf("read %v (want 0 1 5), committed %d", got, rl.Committed())
	}
	sb, err := b.ReadBatches("t", 0, 0, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	var bases []int64
	for rest := sb.Batches; len(rest) > 0; {
		n, _ := recordbatch.Len(rest)
		bases = append(bases, recordbatch.BaseOffset(rest))
		rest = rest[n:]
	}
	if !slices.Equal(bases, []int64{0, 5}) {
		t.Fatalf("Kafka's fetch served batches at %v, want 0 and 5", bases)
	}
	raw, err := rl.ReadEntry(0, 2)
	if err != nil || recordbatch.NumRecords(raw) != 2 {
		t.Fatalf("read back entry 1: %d bytes, %v", len(raw), err)
	}

	c, copyLog := replicaLogOf(t)
	peer, err := rl.ReadBatches(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := copyLog.AppendBatches(peer); err != nil {
		t.Fatal(err)
	}
	if got := values(t, c); !slices.Equal(got, []int64{0, 1, 5}) || copyLog.NextOffset() != 6 || copyLog.Committed() != 6 {
		t.Fatalf("copy reads %v, next %d, committed %d", got, copyLog.NextOffset(), copyLog.Committed())
	}
	// The copy knows the producer as the source does.
	if bases, err := copyLog.ApplyEntry(e1, -1); err != nil || !slices.Equal(bases, []int64{0}) {
		t.Fatalf("duplicate on the copy: %v %v, want [0]", bases, err)
	}
}

// A Kafka fetch that finds only voided offsets before the high watermark
// (a duplicate voided as the last batch) gets an empty batch spanning
// them, which a consumer steps over (KAFKA-5443); with nothing, it asked
// for the same offset until the next write.
func TestKafkaFetchStepsOverAVoidedTail(t *testing.T) {
	b, rl := replicaLogOf(t)
	e := idemFrame(0, 7, 0, 0, 2).Batch
	for range 2 { // the second is the retry, voided
		at, _, err := rl.WriteEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rl.ApplyEntry(e, at); err != nil {
			t.Fatal(err)
		}
	}
	sb, err := b.ReadBatches("t", 0, 2, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := recordbatch.ParseHeader(sb.Batches)
	if err != nil || len(sb.Batches) != recordbatch.HeaderLen || h.NumRecords != 0 || h.BaseOffset != 2 || h.NextOffset() != 4 || sb.HighWatermark != 4 {
		t.Fatalf("fetch at the voided tail: %d bytes %+v %v, high watermark %d", len(sb.Batches), h, err, sb.HighWatermark)
	}
	if sb, err := b.ReadBatches("t", 0, 4, 1<<20, nil); err != nil || len(sb.Batches) != 0 {
		t.Fatalf("fetch at the high watermark: %d bytes, %v", len(sb.Batches), err)
	}
}

// A replicated partition's log opens held at its start (its "replicated"
// mark), showing nothing until its state machine restores it. Producers'
// state read meanwhile (a publish's admission) is of an empty log; the
// restore has it read again, or the entries applied next would be decided
// unlike the other replicas: here a retry written again, not answered as
// the duplicate it is.
func TestRestoreRereadsTheProducers(t *testing.T) {
	cfg := testConfig(t)
	b := mustOpen(t, cfg)
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	rl, err := b.ReplicaLog("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	e := idemFrame(0, 7, 0, 0, 2).Batch
	if _, err := rl.ApplyEntry(e, -1); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = mustOpen(t, cfg)
	defer b.Close()
	_, p, err := b.lookupPartition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if h := p.log.HighWatermark(); h != 0 {
		t.Fatalf("a replica's log opened showing up to %d, want nothing", h)
	}
	if err := p.producers.loadTail(p.log); err != nil { // an admission before the restore
		t.Fatal(err)
	}
	if rl, err = b.ReplicaLog("t", 0); err != nil {
		t.Fatal(err)
	}
	if err := rl.SetCommitted(rl.NextOffset()); err != nil { // the restore
		t.Fatal(err)
	}
	if bases, err := rl.ApplyEntry(e, -1); err != nil || !slices.Equal(bases, []int64{0}) {
		t.Fatalf("the retry after the restore: %v %v, want the duplicate of offset 0", bases, err)
	}
}
