package broker

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// raftish stands for a partition's Raft group over several brokers: an
// entry is committed in one order and applied on every replica, the
// leader's application answering the proposer. Entries in pending are
// committed but not applied yet anywhere (a new leader has not caught up
// with its predecessor's last entries, or a proposal timed out and still
// commits); the next entry applies them first, as Raft applies in order.
type raftish struct {
	mu       sync.Mutex
	replicas []*Broker
	leader   int
	pending  [][]byte
	// lose: the next proposal commits but its proposer is told its outcome
	// is unknown, and nobody applies it until the next proposal.
	lose bool
}

func (r *raftish) Replicates(string) bool { return true }

func (r *raftish) Append(topic string, partition int32, batches []byte) ([]int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	entry := slices.Clone(batches)
	if r.lose {
		r.lose = false
		r.pending = append(r.pending, entry)
		return nil, api.ErrUnavailable.Withf("outcome unknown")
	}
	var answer []int64
	var answerErr error
	for _, e := range append(r.pending, entry) {
		for i, b := range r.replicas {
			rl, err := b.ReplicaLog(topic, partition)
			if err != nil {
				return nil, err
			}
			bases, err := rl.ApplyEntry(e, -1)
			if i == r.leader {
				answer, answerErr = bases, err
			}
		}
	}
	r.pending = nil
	return answer, answerErr
}

// TestIdempotenceAcrossLeaderChanges: a replicated partition's producer
// state is the same on every replica, so after a leader change a retried
// batch is answered with its first offset and the producer's next batch
// is taken, whoever led before; and a retry of a batch whose first send
// committed only after the retry reached the new leader is not written
// twice.
func TestIdempotenceAcrossLeaderChanges(t *testing.T) {
	r := &raftish{}
	for range 3 {
		b := mustOpen(t, testConfig(t))
		t.Cleanup(func() { b.Close() })
		if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		b.SetReplicator(r)
		r.replicas = append(r.replicas, b)
	}
	const pid = 7
	seq := int32(0)
	send := func(leader int, first int32, n int) ([]Position, error) {
		r.mu.Lock()
		r.leader = leader
		r.mu.Unlock()
		return r.replicas[leader].PublishBatches("t", []Frame{idemFrame(0, pid, 0, first, n)})
	}
	sendNext := func(leader int, n int, wantOffset int64) {
		t.Helper()
		pos, err := send(leader, seq, n)
		if err != nil || pos[0].Offset != wantOffset {
			t.Fatalf("node %d, sequence %d: %v %v, want offset %d", leader, seq, pos, err, wantOffset)
		}
		seq += int32(n)
	}
	hwms := func(want int64) {
		t.Helper()
		for i, b := range r.replicas {
			if _, h, err := b.PartitionBounds("t", 0); err != nil || h != want {
				t.Fatalf("node %d: high watermark %d (%v), want %d", i, h, err, want)
			}
		}
	}

	// Node 0 leads and has its state loaded; node 1 takes over and takes
	// batches; node 0 leads again: it must know what node 1 wrote.
	sendNext(0, 2, 0)
	sendNext(1, 3, 2)
	sendNext(1, 1, 5)
	if pos, err := send(0, 2, 3); err != nil || pos[0].Offset != 2 {
		t.Fatalf("retry of node 1's batch at node 0: %v %v, want offset 2", pos, err)
	}
	sendNext(0, 1, 6)
	hwms(7)

	// A batch whose first send commits unseen by its proposer: the
	// producer retries it at the next leader before that leader applied
	// it. One copy is read, and the retry gets its offset; the retry's
	// own copy, written when its entry was, is voided (offsets 11 to 14).
	r.lose = true
	if _, err := send(2, seq, 4); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("lost send: %v", err)
	}
	sendNext(2, 4, 7)
	hwms(15)
	sendNext(1, 1, 15)

	// A gap is refused by every replica alike: voided (offset 16).
	if _, err := send(1, seq+1, 1); !errors.Is(err, api.ErrOutOfOrderSequence) {
		t.Fatalf("gap: %v, want OUT_OF_ORDER_SEQUENCE", err)
	}
	hwms(17)

	// A restarted replica rebuilds the same state from its log.
	cfg := r.replicas[2].cfg
	if err := r.replicas[2].Close(); err != nil {
		t.Fatal(err)
	}
	b := mustOpen(t, cfg)
	t.Cleanup(func() { b.Close() })
	b.SetReplicator(r)
	r.replicas[2] = b
	// Its log opens held (readers see nothing until the partition's
	// state machine restores it); here everything in it is committed.
	rl, err := b.ReplicaLog("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.SetCommitted(rl.NextOffset()); err != nil {
		t.Fatal(err)
	}
	if pos, err := send(2, seq-1, 1); err != nil || pos[0].Offset != 15 {
		t.Fatalf("retry at a restarted leader: %v %v, want offset 15", pos, err)
	}
	sendNext(2, 1, 17)
	hwms(18)
}

// A replicated partition forgets a producer once its last batch is
// further back than checks look (tailRecords): every replica takes it as
// new then anyway, so forgetting is the same everywhere, and its memory
// does not grow with every producer ever seen.
func TestReplicatedProducerStateForgottenPastTheHorizon(t *testing.T) {
	b := mustOpen(t, testConfig(t))
	defer b.Close()
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	b.SetReplicator(&raftish{replicas: []*Broker{b}})
	known := func() int {
		_, p, err := b.lookupPartition("t", 0)
		if err != nil {
			t.Fatal(err)
		}
		p.producers.mu.Lock()
		defer p.producers.mu.Unlock()
		return len(p.producers.ids)
	}
	if _, err := b.PublishBatches("t", []Frame{idemFrame(0, 7, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.NewProducerID(t.Context()); err != nil || known() != 1 {
		t.Fatalf("%d producers known (%v), want 1", known(), err)
	}
	const per = 1 << 13
	for range tailRecords / per {
		if _, err := b.PublishBatches("t", []Frame{idemFrame(0, -1, -1, -1, per)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.NewProducerID(t.Context()); err != nil || known() != 0 {
		t.Fatalf("%d producers known (%v) past the horizon, want 0", known(), err)
	}
}

// A replica that rebuilt a producer's state from its log (here a
// catch-up copying another replica's batches; a restart reads its tail
// alike) keeps it as long as the replica that applied the entries: the
// clock expires no state of a replicated partition, or a late retry would
// be written on one replica and answered as a duplicate on another.
func TestRebuiltProducerStateOutlivesTheClock(t *testing.T) {
	var replicas []*Broker
	for range 2 {
		b := mustOpen(t, testConfig(t))
		defer b.Close()
		if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		b.SetReplicator(&raftish{replicas: []*Broker{b}})
		replicas = append(replicas, b)
	}
	applied, caughtUp := replicas[0], replicas[1]
	if _, err := applied.PublishBatches("t", []Frame{idemFrame(0, 7, 0, 0, 3)}); err != nil {
		t.Fatal(err)
	}
	src, err := applied.ReplicaLog("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := caughtUp.ReplicaLog("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	batches, err := src.ReadBatches(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.AppendBatches(batches); err != nil {
		t.Fatal(err)
	}
	for i, b := range replicas {
		b.expireProducers(time.Now().Add(2 * producerIdle))
		_, p, err := b.lookupPartition("t", 0)
		if err != nil {
			t.Fatal(err)
		}
		p.producers.mu.Lock()
		known := len(p.producers.ids)
		p.producers.mu.Unlock()
		if known != 1 {
			t.Errorf("replica %d knows %d producers after the clock passed their idle time, want 1", i, known)
		}
	}
}
