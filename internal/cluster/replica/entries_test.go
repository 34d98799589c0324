package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// started is a partition over l restored from an empty snapshot, as a
// group's first start leaves it.
func started(t *testing.T, l Log) *Partition {
	t.Helper()
	p := New(l, 1, []uint64{1, 2, 3}, nil)
	if err := p.Restore(nil); err != nil {
		t.Fatal(err)
	}
	return p
}

// store stores entry index and fails the test unless the log took it.
func store(t *testing.T, p *Partition, index uint64, cmd []byte) []byte {
	t.Helper()
	ref, ok, err := p.StoreEntry(index, cmd)
	if err != nil || !ok {
		t.Fatalf("store %d: ok %v, %v", index, ok, err)
	}
	return ref
}

// An entry stored as Raft persists it is written once: beyond what readers
// see until it is applied, and applied in place, at the offsets it was
// written at; its reference reads it back whole.
func TestStoredEntryIsWrittenOnce(t *testing.T) {
	l := &memLog{}
	p := started(t, l)
	e1, e2 := append(batch(2), batch(3)...), batch(4)
	r1, r2 := store(t, p, 1, e1), store(t, p, 2, e2)
	if l.next != 9 || l.committed != 0 {
		t.Fatalf("after storing: log at %d, committed %d; want 9, 0", l.next, l.committed)
	}
	if r := p.Apply(1, e1).(Result); r.Err != nil || !slices.Equal(r.Bases, []int64{0, 2}) || l.committed != 5 || l.next != 9 {
		t.Fatalf("apply 1: %+v, committed %d, log at %d", r, l.committed, l.next)
	}
	if r := p.Apply(2, e2).(Result); r.Err != nil || !slices.Equal(r.Bases, []int64{5}) || l.committed != 9 || l.next != 9 {
		t.Fatalf("apply 2: %+v, committed %d, log at %d", r, l.committed, l.next)
	}
	for i, ref := range [][]byte{r1, r2} {
		b, err := New(l, 1, nil, nil).LoadEntry(uint64(i+1), ref)
		if want := [][]byte{e1, e2}[i]; err != nil || !bytes.Equal(b, want) {
			t.Fatalf("load %d: %d bytes, %v; want the entry's %d bytes as proposed", i+1, len(b), err, len(want))
		}
	}
}

// The log stores an entry only when it holds every entry before it: an
// entry out of order, one while a snapshot is being restored, or one after
// an entry left to the WAL is declined (and applied by appending), and the
// next one after that is stored again.
func TestStoreDeclinesOutOfOrder(t *testing.T) {
	l := &memLog{}
	p := started(t, l)
	if _, ok, _ := p.StoreEntry(1, batch(1)[:20]); ok {
		t.Fatal("a torn entry stored")
	}
	if _, ok, _ := p.StoreEntry(2, batch(1)); ok {
		t.Fatal("entry 2 stored while entry 1 is in the WAL only")
	}
	based := batch(1)
	recordbatch.SetBaseOffset(based, 7)
	if _, ok, _ := p.StoreEntry(1, based); ok {
		t.Fatal("an entry whose batch is not based at 0 stored: it would not read back as proposed")
	}
	p.SnapshotArrived()
	if _, ok, _ := p.StoreEntry(1, batch(1)); ok {
		t.Fatal("stored while a snapshot is being restored")
	}
	if err := p.Restore(nil); err != nil {
		t.Fatal(err)
	}
	store(t, p, 1, batch(1))
	if _, ok, _ := p.StoreEntry(2, batch(2)[:20]); ok {
		t.Fatal("a torn entry stored")
	}
	if _, ok, _ := p.StoreEntry(3, batch(1)); ok {
		t.Fatal("entry 3 stored while entry 2 is in the WAL only")
	}
	// Entries 2 and 3 stay in the WAL: 2 is refused at apply (by every
	// replica alike), 3 appended; then entry 4 is stored again.
	if r := p.Apply(1, batch(1)).(Result); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := p.Apply(2, batch(2)[:20]).(Result); r.Err == nil {
		t.Fatal("a torn entry applied")
	}
	if r := p.Apply(3, batch(1)).(Result); r.Err != nil || !slices.Equal(r.Bases, []int64{1}) {
		t.Fatalf("apply 3: %+v", r)
	}
	store(t, p, 4, batch(3))
	if r := p.Apply(4, batch(3)).(Result); r.Err != nil || !slices.Equal(r.Bases, []int64{2}) || l.next != 5 {
		t.Fatalf("apply 4: %+v, log at %d", r, l.next)
	}
	// A replaced entry's WAL copy goes with it: its replacement may be
	// stored.
	if _, ok, _ := p.StoreEntry(5, batch(1)[:20]); ok {
		t.Fatal("a torn entry stored")
	}
	store(t, p, 5, batch(1))
}

// A new leader's entries replace stored ones from an index on: the log is
// cut back to where the first of them started, and the replacements are
// stored there.
func TestCutEntries(t *testing.T) {
	l := &memLog{}
	p := started(t, l)
	store(t, p, 1, batch(1))
	store(t, p, 2, batch(2))
	store(t, p, 3, batch(3))
	if err := p.CutEntries(2); err != nil || l.next != 1 || p.inLog != 1 {
		t.Fatalf("cut: %v, log at %d, in log %d", err, l.next, p.inLog)
	}
	store(t, p, 2, batch(5))
	if r := p.Apply(1, batch(1)).(Result); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := p.Apply(2, batch(5)).(Result); r.Err != nil || !slices.Equal(r.Bases, []int64{1}) || l.next != 6 || l.committed != 6 {
		t.Fatalf("apply 2: %+v, log at %d, committed %d", r, l.next, l.committed)
	}
	if err := p.CutEntries(9); err != nil || p.failed != nil {
		t.Fatalf("cut past the log: %v, failed %v", err, p.failed)
	}
}

// At a restart the store reads back the entries after the snapshot; the
// log keeps them (and drops what lies past them: batches whose WAL record
// a crash lost), readers see up to the snapshot's end, and the entries
// are applied again in place. Batches that are not the entry's, or gone,
// are ErrEntryMissing.
func TestReopenKeepsStoredEntries(t *testing.T) {
	l := &memLog{}
	p := started(t, l)
	store(t, p, 1, batch(1))
	p.Apply(1, batch(1))
	snap, err := p.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r2, r3 := store(t, p, 2, batch(2)), store(t, p, 3, batch(3))
	p.Apply(2, batch(2))
	store(t, p, 4, batch(4)) // its WAL record is lost in the crash

	q := New(l, 1, []uint64{1, 2, 3}, nil)
	for i, ref := range [][]byte{r2, r3} {
		if _, err := q.LoadEntry(uint64(i+2), ref); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Restore(snap); err != nil {
		t.Fatal(err)
	}
	var s snapshot
	json.Unmarshal(snap, &s)
	if l.next != 6 || l.committed != s.Next || s.Next != 1 {
		t.Fatalf("reopened: log at %d (want 6), committed %d (want %d)", l.next, l.committed, s.Next)
	}
	for i, e := range [][]byte{batch(2), batch(3)} {
		if r := q.Apply(uint64(i+2), e).(Result); r.Err != nil || r.Bases[0] != []int64{1, 3}[i] {
			t.Fatalf("apply %d again: %+v", i+2, r)
		}
	}
	if l.next != 6 || l.committed != 6 {
		t.Fatalf("applied again: log at %d, committed %d; want 6, 6", l.next, l.committed)
	}
	store(t, q, 4, batch(4))

	if err := l.TruncateTo(3); err != nil {
		t.Fatal(err)
	}
	if _, err := New(l, 1, nil, nil).LoadEntry(3, r3); !errors.Is(err, multiraft.ErrEntryMissing) {
		t.Fatalf("load of cut batches: %v", err)
	}
}

// A snapshot arriving while the log holds stored entries not applied
// replaces them: they are uncommitted, perhaps not what committed there.
// The log is cut back to what was applied before it is completed.
func TestSnapshotDropsStoredEntries(t *testing.T) {
	src := sourceLog(t, 0, 10)
	l := &memLog{}
	p := New(l, 3, []uint64{1, 2, 3}, func(_ context.Context, _ uint64, from int64) ([]byte, error) {
		return src.ReadBatches(from, 1<<20)
	})
	if err := p.Restore(nil); err != nil {
		t.Fatal(err)
	}
	store(t, p, 1, batch(4)) // a deposed leader's entry, never committed
	p.SnapshotArrived()
	snap, _ := json.Marshal(snapshot{Index: 5, Next: 10, Node: 1})
	if err := p.Restore(snap); err != nil {
		t.Fatal(err)
	}
	caughtUp(p)
	if l.next != 10 || l.committed != 10 || !slices.Equal(l.batches[0], src.batches[0]) {
		t.Fatalf("after the snapshot: log at %d, committed %d", l.next, l.committed)
	}
}

// A new leader's entries may replace stored ones from an index that holds
// no batches (the deposed leader's empty entry at its election, or a
// configuration change): the store cuts from the first replaced index,
// and the log is cut back to where the first stored entry at or after it
// started, without failing the replica.
func TestCutEntriesFromAnEntryWithoutBatches(t *testing.T) {
	for _, tc := range []struct {
		name    string
		applied uint64 // entries applied before the cut
		cut     uint64
		next    int64 // the log's end after the cut
		end     int64 // and once entry 3 is applied
	}{
		{"nothing applied", 0, 2, 1, 6},
		{"first applied", 1, 2, 1, 6},
		{"before every stored entry", 0, 1, 0, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &memLog{}
			p := started(t, l)
			store(t, p, 1, batch(1))
			// Entry 2 is empty: the store asks no StoreEntry for it.
			store(t, p, 3, batch(2))
			if tc.applied >= 1 {
				if r := p.Apply(1, batch(1)).(Result); r.Err != nil {
					t.Fatal(r.Err)
				}
			}
			if err := p.CutEntries(tc.cut); err != nil || p.failed != nil {
				t.Fatalf("cut from %d: %v, failed %v", tc.cut, err, p.failed)
			}
			if l.next != tc.next || p.inLog != tc.cut-1 {
				t.Fatalf("cut from %d: log at %d (want %d), in log %d (want %d)", tc.cut, l.next, tc.next, p.inLog, tc.cut-1)
			}
			// The new leader's entry 3 is stored where the old one was.
			store(t, p, 3, batch(5))
			for i := tc.applied + 1; i <= 3; i++ {
				e := batch(5) // entry 3; 1 is the old one unless replaced
				if i == 1 && i < tc.cut {
					e = batch(1)
				} else if i != 3 {
					continue
				}
				if r := p.Apply(i, e).(Result); r.Err != nil {
					t.Fatalf("apply %d: %v", i, r.Err)
				}
			}
			if l.next != tc.end || l.committed != tc.end {
				t.Fatalf("applied: log at %d, committed %d; want %d", l.next, l.committed, tc.end)
			}
		})
	}
}

// An entry the WAL kept whole that every replica refused at apply, writing
// nothing (a batch no log takes), may be followed by an entry the log
// stored. Applied again after a restart, it is refused again: it is not
// taken for the batches of the stored entry that the log holds where it
// would have started (that forked the offsets, and failed the replica at
// the stored entry).
func TestReopenRefusesARefusedEntryAgain(t *testing.T) {
	l := &memLog{}
	p := started(t, l)
	refused := batch(3)
	recordbatch.SetControl(refused, true) // no log takes it
	if _, ok, _ := p.StoreEntry(1, refused); ok {
		t.Fatal("a control batch stored")
	}
	if r := p.Apply(1, refused).(Result); r.Err == nil || !refusal(r.Err) {
		t.Fatalf("apply 1: %+v; want a refusal", r)
	}
	r2 := store(t, p, 2, batch(2))
	if r := p.Apply(2, batch(2)).(Result); r.Err != nil || !slices.Equal(r.Bases, []int64{0}) {
		t.Fatalf("apply 2: %+v", r)
	}

	// A restart: the store reads entry 2 back, entry 1 is whole in the
	// WAL, and both are applied again after the (empty) snapshot.
	q := New(l, 1, []uint64{1, 2, 3}, nil)
	if _, err := q.LoadEntry(2, r2); err != nil {
		t.Fatal(err)
	}
	q.KeptInWAL(1)
	if err := q.Restore(nil); err != nil {
		t.Fatal(err)
	}
	if r := q.Apply(1, refused).(Result); r.Err == nil || !refusal(r.Err) || q.failed != nil {
		t.Fatalf("apply 1 again: %+v, failed %v; want a refusal", r, q.failed)
	}
	if l.committed != 0 {
		t.Fatalf("the refused entry moved what readers see to %d", l.committed)
	}
	if r := q.Apply(2, batch(2)).(Result); r.Err != nil || !slices.Equal(r.Bases, []int64{0}) || l.committed != 2 {
		t.Fatalf("apply 2 again: %+v, committed %d", r, l.committed)
	}
}

// Entries Raft persists with a snapshot, after it (in the same pass, so
// before Restore), stay whole in the WAL; the entry after them is not
// stored where their batches will go: they are applied first, appended,
// and it after them.
func TestEntriesPersistedWithASnapshot(t *testing.T) {
	l := &memLog{}
	p := started(t, l)
	p.SnapshotArrived()
	if _, ok, _ := p.StoreEntry(6, batch(2)); ok {
		t.Fatal("stored while a snapshot is being restored")
	}
	snap, _ := json.Marshal(snapshot{Index: 5, Next: 0, Node: 1})
	if err := p.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := p.StoreEntry(7, batch(3)); ok {
		t.Fatal("entry 7 stored while entry 6 is in the WAL only")
	}
	for i, e := range [][]byte{batch(2), batch(3)} {
		if r := p.Apply(uint64(6+i), e).(Result); r.Err != nil || !slices.Equal(r.Bases, []int64{[]int64{0, 2}[i]}) {
			t.Fatalf("apply %d: %+v", 6+i, r)
		}
	}
	if l.next != 5 || l.committed != 5 {
		t.Fatalf("applied: log at %d, committed %d; want 5, 5", l.next, l.committed)
	}
}

// A snapshot arriving replaces the entries stored and not applied (a
// deposed leader's, perhaps not what committed there): they are cut from
// the log when it arrives, before the group's store records the snapshot.
// A crash before Restore then leaves no uncommitted batches below the
// snapshot's end for the restart to take for committed ones: it catches
// up from the leader.
func TestSnapshotArrivingCutsStoredEntries(t *testing.T) {
	src := sourceLog(t, 0, 10)
	fetch := func(_ context.Context, _ uint64, from int64) ([]byte, error) {
		return src.ReadBatches(from, 1<<20)
	}
	l := &memLog{}
	p := New(l, 3, []uint64{1, 2, 3}, fetch)
	if err := p.Restore(nil); err != nil {
		t.Fatal(err)
	}
	store(t, p, 1, batch(2))
	if r := p.Apply(1, batch(2)).(Result); r.Err != nil {
		t.Fatal(r.Err)
	}
	store(t, p, 2, batch(8)) // a deposed leader's entry, never committed
	p.SnapshotArrived()
	if l.next != 2 {
		t.Fatalf("a snapshot arrived: log at %d, want 2 (what was applied)", l.next)
	}

	q := New(l, 3, []uint64{1, 2, 3}, fetch) // a crash before Restore
	snap, _ := json.Marshal(snapshot{Index: 5, Next: 10, Node: 1})
	if err := q.Restore(snap); err != nil {
		t.Fatal(err)
	}
	caughtUp(q)
	if l.next != 10 || l.committed != 10 || !slices.EqualFunc(l.batches, src.batches, bytes.Equal) {
		t.Fatalf("restored: log at %d, committed %d, %d batches; want the leader's 5 to 10", l.next, l.committed, len(l.batches))
	}
}
