package replica_test

import (
	"context"
	"log/slog"
	"runtime"
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/cluster/replica"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// idem is a batch of n records of producer pid (epoch 0) from sequence
// seq; pid -1: no producer.
func idem(pid int64, seq int32, n int) []byte {
	var bld recordbatch.Builder
	bld.Reset(nil)
	for range n {
		bld.Add(0, 1, nil, []byte("v"), nil)
	}
	h := recordbatch.NewHeader(0)
	h.ProducerID, h.ProducerEpoch, h.BaseSequence = pid, 0, seq
	return bld.Finish(h)
}

// Two replicas over the broker's logs; the second is restored from a
// snapshot whose end its log cannot be cut back to: it restarts past its
// retention (its log starts over empty at the snapshot's end), or it
// catches up from voters whose retention deleted everything below it. The
// producer's retry of a batch written before the snapshot, committed
// after it, is answered as a duplicate on both (and voided alike), and
// the next batch gets the same offset on both. Before the snapshot carried the producer state,
// the restored replica knew no producer and wrote the retry again: one
// offset, two messages.
func TestRestoredReplicaKeepsProducers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restore func(t *testing.T, l *broker.ReplicaLog, snap []byte) *replica.Partition
	}{
		{"restart past retention", func(t *testing.T, l *broker.ReplicaLog, snap []byte) *replica.Partition {
			// Retention deleted everything, then the node restarts.
			if err := l.StartAt(l.NextOffset()); err != nil {
				t.Fatal(err)
			}
			p := replica.New(l, 2, voters, nil)
			if err := p.Restore(snap); err != nil || l.EarliestOffset() != 5 {
				t.Fatalf("restore: %v, log starts at %d, want 5", err, l.EarliestOffset())
			}
			if r := p.Apply(3, idem(-1, 0, 1)).(replica.Result); r.Err != nil || !slices.Equal(r.Bases, []int64{5}) {
				t.Fatalf("entry 3 applied again: %+v", r)
			}
			return p
		}},
		{"catch-up past the voters' retention", func(t *testing.T, l *broker.ReplicaLog, snap []byte) *replica.Partition {
			if err := l.TruncateTo(0); err != nil { // an empty disk
				t.Fatal(err)
			}
			p := replica.New(l, 2, voters, func(context.Context, uint64, int64) ([]byte, error) {
				return nil, &replica.StartError{Start: 6}
			})
			if err := p.Restore(snap); err != nil {
				t.Fatal(err)
			}
			for p.CatchingUp() { // every voter answers at once
				runtime.Gosched()
			}
			if l.EarliestOffset() != 5 || l.NextOffset() != 5 {
				t.Fatalf("caught up: log [%d, %d), want [5, 5)", l.EarliestOffset(), l.NextOffset())
			}
			if r := p.Apply(3, idem(-1, 0, 1)).(replica.Result); r.Err != nil || !slices.Equal(r.Bases, []int64{5}) {
				t.Fatalf("entry 3 applied again: %+v", r)
			}
			return p
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs [2]*broker.ReplicaLog
			var parts [2]*replica.Partition
			for i := range logs {
				logs[i] = brokerLog(t)
				parts[i] = replica.New(logs[i], uint64(i+1), voters, nil)
			}
			apply := func(index uint64, entry []byte, wantBase int64) {
				t.Helper()
				for i, p := range parts {
					r := p.Apply(index, entry).(replica.Result)
					if r.Err != nil || !slices.Equal(r.Bases, []int64{wantBase}) || logs[i].NextOffset() != logs[0].NextOffset() {
						t.Fatalf("entry %d on replica %d: %+v, log at %d; want base %d, log at %d", index, i+1, r, logs[i].NextOffset(), wantBase, logs[0].NextOffset())
					}
				}
			}
			apply(1, idem(7, 0, 2), 0)
			apply(2, idem(7, 2, 3), 2)
			snap, err := parts[1].Snapshot() // ends at 5
			if err != nil {
				t.Fatal(err)
			}
			apply(3, idem(-1, 0, 1), 5)

			parts[1] = tc.restore(t, logs[1], snap)
			apply(4, idem(7, 2, 3), 2) // the retry: a duplicate, voided (offsets 6 to 8)
			apply(5, idem(7, 5, 1), 9)
		})
	}
}

var voters = []uint64{1, 2, 3}

// brokerLog is partition 0 of a new topic "t" of a new broker, as its
// state machine writes it.
func brokerLog(t *testing.T) *broker.ReplicaLog {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.DataDir, cfg.Logger = t.TempDir(), slog.New(slog.DiscardHandler)
	b, err := broker.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := b.CreateTopic(broker.TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	l, err := b.ReplicaLog("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Over a broker's log: entries the WAL kept whole before an entry the log
// stored are applied again after a restart as they were the first time:
// one the log refused (a control batch) is refused again, one it appended
// (not based at 0, so not stored) is decided in place, and the stored one
// after them keeps its offsets.
func TestReopenAppliesEntriesKeptInTheWALAgain(t *testing.T) {
	l := brokerLog(t)
	control := idem(-1, 0, 3)
	recordbatch.SetControl(control, true)
	based := idem(7, 0, 2)
	recordbatch.SetBaseOffset(based, 40)
	entries := [][]byte{control, based, idem(-1, 0, 4)}
	want := []struct {
		refused bool
		base    int64
	}{{refused: true}, {base: 0}, {base: 2}}

	p := replica.New(l, 1, voters, nil)
	if err := p.Restore(nil); err != nil {
		t.Fatal(err)
	}
	var ref []byte
	for i, e := range entries {
		r, ok, err := p.StoreEntry(uint64(i+1), e)
		if err != nil || ok != (i == 2) {
			t.Fatalf("store %d: ok %v, %v", i+1, ok, err)
		}
		ref = r
		if r := p.Apply(uint64(i+1), e).(replica.Result); (r.Err != nil) != want[i].refused || !want[i].refused && r.Bases[0] != want[i].base {
			t.Fatalf("apply %d: %+v", i+1, r)
		}
	}

	q := replica.New(l, 1, voters, nil) // a restart
	if _, err := q.LoadEntry(3, ref); err != nil {
		t.Fatal(err)
	}
	q.KeptInWAL(1)
	q.KeptInWAL(2)
	if err := q.Restore(nil); err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if r := q.Apply(uint64(i+1), e).(replica.Result); (r.Err != nil) != want[i].refused || !want[i].refused && r.Bases[0] != want[i].base {
			t.Fatalf("apply %d again: %+v", i+1, r)
		}
	}
	if l.Committed() != 6 || l.NextOffset() != 6 {
		t.Fatalf("applied again: committed %d, log at %d; want 6, 6", l.Committed(), l.NextOffset())
	}
}
