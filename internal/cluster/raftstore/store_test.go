package raftstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

func ent(index, term uint64, data string) *pb.Entry {
	return &pb.Entry{Index: new(index), Term: new(term), Type: pb.EntryNormal.Enum(), Data: []byte(data)}
}

func hardState(term, vote, commit uint64) *pb.HardState {
	return &pb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

// state is what a store exposes, in a comparable form.
// bootstrapped opens a store of group "/g" on a fresh Mem and bootstraps
// it with three voters.
func bootstrapped(t *testing.T) (*vfs.Mem, *Store) {
	t.Helper()
	fsys := vfs.NewMem()
	s, err := Open(fsys, "/g")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Bootstrap(voters3()); err != nil {
		t.Fatal(err)
	}
	return fsys, s
}

// reopenAfterPowerLoss closes s, loses what its disk did not sync, and
// opens the store again.
// A store with a Data reopens with it (a fileData rereads its file).
func reopenAfterPowerLoss(t *testing.T, fsys *vfs.Mem, s *Store) *Store {
	t.Helper()
	s.Close()
	fsys.Crash(nil)
	if d, ok := s.data.(interface{ reopen() }); ok {
		d.reopen()
	}
	s, err := OpenData(fsys, "/g", s.data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func voters3() *pb.ConfState { return &pb.ConfState{Voters: []uint64{1, 2, 3}} }

type state struct {
	snapIndex, snapTerm uint64
	ents                string // "index/term/data ..." of entries after the snapshot
	last                uint64 // the log's last index
	term, vote, commit  uint64 // the hard state
	snapData            string
}

func stateOf(t *testing.T, s *Store) state {
	t.Helper()
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	st := state{snapIndex: snap.GetMetadata().GetIndex(), snapTerm: snap.GetMetadata().GetTerm(), snapData: string(snap.GetData())}
	last, _ := s.LastIndex()
	st.last = last
	if last > st.snapIndex {
		ents, err := s.Entries(st.snapIndex+1, last+1, ^uint64(0))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			st.ents += fmt.Sprintf("%d/%d/%s ", e.GetIndex(), e.GetTerm(), e.GetData())
		}
	}
	hs, _, _ := s.InitialState()
	// A commit below the snapshot means the snapshot's index (Open raises
	// it; Raft would too).
	st.term, st.vote, st.commit = hs.GetTerm(), hs.GetVote(), max(hs.GetCommit(), st.snapIndex)
	return st
}

func TestStoreRoundTripOnDisk(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(vfs.OS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !s.IsEmpty() {
		t.Fatal("new store is not empty")
	}
	cs := voters3()
	if err := s.Bootstrap(cs); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(hardState(2, 1, 2), []*pb.Entry{ent(2, 2, "a"), ent(3, 2, "b"), ent(4, 2, "c")}); err != nil {
		t.Fatal(err)
	}
	// Overwrite a suffix, as a follower does when a new leader disagrees.
	if err := s.Save(hardState(3, 0, 3), []*pb.Entry{ent(4, 3, "d"), ent(5, 3, "e")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	want := stateOf(t, s)
	if want.ents != "2/2/a 3/2/b 4/3/d 5/3/e " {
		t.Fatalf("entries %q", want.ents)
	}
	s.Close()
	s2, err := Open(vfs.OS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := stateOf(t, s2); got != want {
		t.Fatalf("reopened %+v, want %+v", got, want)
	}
	_, gotCS, _ := s2.InitialState()
	if fmt.Sprint(gotCS.GetVoters()) != "[1 2 3]" {
		t.Fatalf("conf state %v", gotCS)
	}
	if s2.IsEmpty() {
		t.Fatal("bootstrapped store reads as empty")
	}
	if err := s2.Bootstrap(cs); err == nil {
		t.Fatal("bootstrap of a used store succeeded")
	}
}

// DropKept drops from memory the entries kept behind the snapshot, and
// only those: what Raft reads after it, and what Open recovers, is the
// same.
func TestDropKept(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(vfs.OS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	cs := &pb.ConfState{Voters: []uint64{1}}
	if err := s.Bootstrap(cs); err != nil {
		t.Fatal(err)
	}
	var ents []*pb.Entry
	for i := uint64(2); i <= 20; i++ {
		ents = append(ents, ent(i, 1, strconv.Itoa(int(i))))
	}
	if err := s.Save(hardState(1, 1, 20), ents); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSnapshot(15, cs, []byte("sm@15"), 10); err != nil {
		t.Fatal(err)
	}
	if first, _ := s.FirstIndex(); first != 6 {
		t.Fatalf("first index %d after a snapshot at 15 keeping 10, want 6", first)
	}
	want := stateOf(t, s)
	if err := s.DropKept(16); err == nil {
		t.Fatal("dropped entries past the snapshot")
	}
	for _, c := range []struct{ to, first uint64 }{{9, 10}, {4, 10}, {15, 16}} {
		if err := s.DropKept(c.to); err != nil {
			t.Fatal(err)
		}
		if first, _ := s.FirstIndex(); first != c.first {
			t.Fatalf("first index %d after dropping to %d, want %d", first, c.to, c.first)
		}
		if got := stateOf(t, s); got != want {
			t.Fatalf("after dropping to %d: %+v, want %+v", c.to, got, want)
		}
	}
	if err := s.Save(hardState(1, 1, 21), []*pb.Entry{ent(21, 1, "21")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	want = stateOf(t, s)
	s.Close()
	s2, err := Open(vfs.OS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := stateOf(t, s2); got != want {
		t.Fatalf("reopened %+v, want %+v", got, want)
	}
}

func TestStoreRejectsCorruptSegment(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(vfs.OS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Bootstrap(&pb.ConfState{Voters: []uint64{1}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	names, _ := os.ReadDir(dir)
	for _, n := range names {
		if _, ok := parseSegName(n.Name()); ok {
			p := filepath.Join(dir, n.Name())
			b, _ := os.ReadFile(p)
			b[headerLen+2] ^= 0xff // inside the reset record
			os.WriteFile(p, b, 0o644)
		}
	}
	if _, err := Open(vfs.OS{}, dir); err == nil {
		t.Fatal("open of a segment with a damaged first record succeeded")
	}
}

// TestStoreCrashModel drives a store with random saves (overwriting
// suffixes as Raft does), syncs, snapshots taken and received, and crashes
// that keep a random part of the unsynced bytes. After each crash the
// recovered state must be one the store passed through since its last
// durable point, record by record: nothing synced is lost, and nothing
// appears that was never written. Half the seeds keep entries' data in a
// fileData (declining a third of them) whose file a crash tears apart
// from the WAL's: a recovered log may then also be one of those states
// cut short where the data of an unsynced entry, or of one cut by an
// overwrite since, was lost — with its hard state, the commit lowered to
// the log's end — and every entry it has must read back whole.
func TestStoreCrashModel(t *testing.T) {
	seeds := 30
	if v, err := strconv.Atoi(os.Getenv("GOQUEUE_SIM_SEEDS")); err == nil && v > 0 {
		seeds = v * 10 // each seed here is far cheaper than a cluster's
	}
	for seed := range seeds {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			if !crashModel(t, uint64(seed)) {
				t.Fatalf("failing seed %d", seed)
			}
		})
	}
}

func crashModel(t *testing.T, seed uint64) bool {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	fsys := vfs.NewMem()
	// A snapshot starts a new segment at every one, at some, or at none;
	// a lazy store leaves its entries to Flush (fsync=interval).
	rotateAt, lazy := []int64{0, 256, 1 << 30}[seed%3], seed/3%2 == 1
	var data Data
	var fd *fileData
	if seed/6%2 == 1 {
		fd = openFileData(t, fsys, "/d/log", rand.New(rand.NewPCG(seed, 0xda7a)))
		data = fd
	}
	open := func() *Store {
		s, err := OpenData(fsys, "/g", data)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		s.SetRotateBytes(rotateAt)
		s.SetLazy(lazy)
		return s
	}
	s := open()
	if err := s.Bootstrap(voters3()); err != nil {
		t.Fatal(err)
	}
	// candidates are the states a crash may recover: the durable one first,
	// then one per record written since. Sync makes durable everything up
	// to the last record it must (lastMust): a hard state that moves only
	// the commit index after it may be lost.
	candidates := []state{stateOf(t, s)}
	lastMust := 0
	// A FlushLater's sync runs on its own goroutine, as the host runs it,
	// while saves go on; once it returns, everything saved up to the call
	// (candidates[flushAt]) is durable.
	var flushed chan error
	flushAt := 0
	// cuts are the overwrites since the durable point: each lets the
	// owner cut the data of entries from its first on (below is the index
	// before), which a crash before their records are synced may leave
	// the WAL referring to, so the log may be recovered only up to below.
	type cut struct {
		pos   int // the first candidate after it
		below uint64
	}
	var cuts []cut
	trim := func(k int) {
		candidates = candidates[k:]
		lastMust, flushAt = max(lastMust-k, 0), max(flushAt-k, 0)
		var kept []cut
		for _, c := range cuts {
			if c.pos > k {
				kept = append(kept, cut{c.pos - k, c.below})
			}
		}
		cuts = kept
	}
	finishFlush := func() {
		if flushed != nil {
			if err := <-flushed; err != nil {
				t.Fatal(err)
			}
			flushed = nil
			trim(flushAt)
		}
	}
	term, commit := uint64(1), uint64(1)
	for step := range 300 {
		last, _ := s.LastIndex()
		switch op := rng.IntN(20); {
		case op < 10: // save
			start := commit + 1 + uint64(rng.IntN(int(last-commit)+1))
			if rng.IntN(4) == 0 {
				term++
			}
			var ents []*pb.Entry
			for i := range uint64(rng.IntN(4)) {
				ents = append(ents, ent(start+i, term, fmt.Sprintf("s%d.%d", step, i)))
			}
			newLast := last
			if len(ents) > 0 {
				newLast = start + uint64(len(ents)) - 1
				if start <= last {
					cuts = append(cuts, cut{len(candidates), start - 1})
				}
			}
			if newLast > commit && rng.IntN(2) == 0 {
				commit += 1 + uint64(rng.IntN(int(newLast-commit)))
			}
			hs := hardState(term, uint64(rng.IntN(4)), commit)
			// Record by record, the states a torn write can leave.
			for _, e := range ents {
				if err := s.Save(nil, []*pb.Entry{e}); err != nil {
					t.Fatal(err)
				}
				candidates = append(candidates, stateOf(t, s))
				if !lazy {
					lastMust = len(candidates) - 1
				}
			}
			prev, _, _ := s.InitialState()
			if err := s.Save(hs, nil); err != nil {
				t.Fatal(err)
			}
			candidates = append(candidates, stateOf(t, s))
			if prev.GetTerm() != hs.GetTerm() || prev.GetVote() != hs.GetVote() {
				lastMust = len(candidates) - 1
			}
		case op < 11:
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			trim(lastMust)
		case op < 13:
			if flushed != nil {
				finishFlush()
			} else if sync := s.FlushLater(); sync != nil {
				ch := make(chan error, 1)
				flushed, flushAt = ch, len(candidates)-1
				go func() { ch <- sync() }()
			}
		case op < 15: // snapshot of applied state
			snap, _ := s.Snapshot()
			if commit > snap.GetMetadata().GetIndex() {
				i := snap.GetMetadata().GetIndex() + 1 + uint64(rng.IntN(int(commit-snap.GetMetadata().GetIndex())))
				if err := s.CreateSnapshot(i, voters3(), fmt.Appendf(nil, "sm@%d", i), uint64(rng.IntN(3))); err != nil {
					t.Fatal(err)
				}
				candidates, lastMust, flushAt, cuts = []state{stateOf(t, s)}, 0, 0, nil
			}
		case op < 16: // a snapshot from a leader, past everything we have
			term++
			i := last + 1 + uint64(rng.IntN(5))
			err := s.ApplySnapshot(&pb.Snapshot{Data: fmt.Appendf(nil, "leader@%d", i), Metadata: &pb.SnapshotMetadata{
				Index: new(i), Term: new(term), ConfState: voters3(),
			}})
			if err != nil {
				t.Fatal(err)
			}
			commit = i
			// Until the new hard state is synced, a crash recovers the old
			// one with its commit raised to the snapshot's index.
			old, _, _ := s.InitialState()
			durable := stateOf(t, s)
			durable.term, durable.vote, durable.commit = old.GetTerm(), old.GetVote(), i // raised: see stateOf
			if err := s.Save(hardState(term, 0, commit), nil); err != nil {
				t.Fatal(err)
			}
			candidates, lastMust, flushAt, cuts = []state{durable, stateOf(t, s)}, 1, 0, nil
		case op < 17: // drop the tail kept behind the snapshot: state unchanged
			snap, _ := s.Snapshot()
			first, _ := s.FirstIndex()
			at := snap.GetMetadata().GetIndex()
			if at >= first {
				if err := s.DropKept(first + uint64(rng.IntN(int(at-first)+1))); err != nil {
					t.Fatal(err)
				}
			}
		default: // crash, half the time with a FlushLater's sync pending
			if rng.IntN(2) == 0 {
				finishFlush()
			}
			fsys.Crash(rng)
			s.Close()
			flushed = nil // its result is moot: nothing trimmed for it
			if fd != nil {
				fd.reopen()
			}
			s = open()
			got := stateOf(t, s)
			floor := candidates[0].last
			for _, c := range cuts {
				floor = min(floor, c.below)
			}
			found := false
			for _, c := range candidates {
				if c == got || (data != nil && cutShort(got, c, floor)) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("step %d: recovered %+v, not one of %d candidates (nor cut short above %d); durable was %+v", step, got, len(candidates), floor, candidates[0])
				return false
			}
			candidates, lastMust, flushAt, cuts = []state{got}, 0, 0, nil
			hs, _, _ := s.InitialState()
			term, commit = hs.GetTerm(), hs.GetCommit()
			if term == 0 {
				term = 1
			}
		}
	}
	finishFlush()
	s.Close()
	return true
}

// cutShort reports whether got is c with its log cut after index at
// least floor (and its commit lowered to the log's end).
func cutShort(got, c state, floor uint64) bool {
	return got.snapIndex == c.snapIndex && got.snapTerm == c.snapTerm && got.snapData == c.snapData &&
		got.term == c.term && got.vote == c.vote && got.commit == min(c.commit, got.last) &&
		got.last >= floor && got.last < c.last && strings.HasPrefix(c.ents, got.ents)
}

// TestCommitOnlyHardStateNeedsNoSync: a hard state that moves only the
// commit index leaves the store clean (the commit index is volatile in
// Raft; syncing it doubled a busy group's fsyncs), while entries, a new
// term or a vote must be synced.
func TestCommitOnlyHardStateNeedsNoSync(t *testing.T) {
	s, err := Open(vfs.NewMem(), "/g")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Bootstrap(voters3()); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		hs    *pb.HardState
		ents  []*pb.Entry
		dirty bool
	}{
		{"entries and a term", hardState(2, 1, 1), []*pb.Entry{ent(2, 2, "a"), ent(3, 2, "b")}, true},
		{"commit alone", hardState(2, 1, 2), nil, false},
		{"commit again", hardState(2, 1, 3), nil, false},
		{"a new vote", hardState(2, 3, 3), nil, true},
		{"a new term", hardState(3, 0, 3), nil, true},
		{"an entry", nil, []*pb.Entry{ent(4, 3, "c")}, true},
	}
	for _, st := range steps {
		if err := s.Save(st.hs, st.ents); err != nil {
			t.Fatal(err)
		}
		if s.Dirty() != st.dirty {
			t.Errorf("%s: dirty %v, want %v", st.name, s.Dirty(), st.dirty)
		}
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLazyStoreLeavesEntriesToFlush: a lazy store's entries do not make
// Sync necessary (a power loss before Flush takes them), a term or vote
// still does, and Flush makes everything durable.
func TestLazyStoreLeavesEntriesToFlush(t *testing.T) {
	fsys, s := bootstrapped(t)
	s.SetLazy(true)
	if err := s.Save(hardState(2, 1, 1), nil); err != nil {
		t.Fatal(err)
	}
	if !s.Dirty() {
		t.Fatal("a new term and vote left a lazy store clean")
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(hardState(2, 1, 2), []*pb.Entry{ent(2, 2, "a")}); err != nil {
		t.Fatal(err)
	}
	if s.Dirty() || !s.Unsynced() {
		t.Fatalf("after an entry: dirty %v unsynced %v, want false true", s.Dirty(), s.Unsynced())
	}
	if err := s.Sync(); err != nil { // what a pass does: nothing here
		t.Fatal(err)
	}
	s = reopenAfterPowerLoss(t, fsys, s)
	if last, _ := s.LastIndex(); last != 1 {
		t.Fatalf("an unflushed entry survived a power loss: last index %d", last)
	}
	if hs, _, _ := s.InitialState(); hs.GetTerm() != 2 || hs.GetVote() != 1 {
		t.Fatalf("term and vote lost: %v", hs)
	}
	s.SetLazy(true)
	if err := s.Save(hardState(2, 1, 1), []*pb.Entry{ent(2, 2, "b")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s = reopenAfterPowerLoss(t, fsys, s)
	defer s.Close()
	if last, _ := s.LastIndex(); last != 2 {
		t.Fatalf("a flushed entry was lost: last index %d", last)
	}
}

// TestFlushLater: the sync FlushLater returns makes what was saved before
// the call durable, whatever is saved after it; a rotation meanwhile
// waits for that sync before it closes the segment the sync is of.
func TestFlushLater(t *testing.T) { synctest.Test(t, testFlushLater) }

func testFlushLater(t *testing.T) {
	fsys, s := bootstrapped(t)
	s.SetLazy(true)
	if err := s.Save(hardState(1, 0, 1), nil); err != nil {
		t.Fatal(err)
	}
	if s.FlushLater() != nil {
		t.Fatal("FlushLater took a new term, which the pass's Sync must sync")
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(hardState(1, 0, 1), []*pb.Entry{ent(2, 1, "a")}); err != nil {
		t.Fatal(err)
	}
	sync := s.FlushLater()
	if sync == nil || s.Unsynced() {
		t.Fatalf("FlushLater of a saved entry: sync %v, unsynced %v", sync != nil, s.Unsynced())
	}
	if err := s.Save(hardState(1, 0, 2), []*pb.Entry{ent(3, 1, "b")}); err != nil {
		t.Fatal(err)
	}
	// A snapshot that rotates closes the segment: it must wait for sync.
	s.SetRotateBytes(0)
	rotated := make(chan error, 1)
	go func() { rotated <- s.CreateSnapshot(2, voters3(), []byte("sm@2"), 1) }()
	synctest.Wait()
	select {
	case err := <-rotated:
		t.Fatalf("the rotation closed the segment before its pending sync ran (err %v)", err)
	default:
	}
	if err := sync(); err != nil {
		t.Fatal(err)
	}
	if err := <-rotated; err != nil {
		t.Fatal(err)
	}
	if again := s.FlushLater(); again != nil {
		t.Fatal("FlushLater after a rotation, with nothing saved since, returned a sync")
	}
	if err := s.Save(hardState(1, 0, 2), []*pb.Entry{ent(4, 1, "c")}); err != nil {
		t.Fatal(err)
	}
	s = reopenAfterPowerLoss(t, fsys, s)
	defer s.Close()
	if last, _ := s.LastIndex(); last != 3 {
		t.Fatalf("after a power loss the log ends at %d, want 3 (the rotation's, not the unflushed entry 4)", last)
	}
}

// TestSnapshotBelowRotateBytesKeepsSegment: a snapshot taken while the
// segment is small leaves it in place (no rewrite of the kept log), and a
// reopened store starts from the snapshot with the entries after it.
func TestSnapshotBelowRotateBytesKeepsSegment(t *testing.T) {
	fsys, s := bootstrapped(t)
	var ents []*pb.Entry
	for i := uint64(2); i <= 9; i++ {
		ents = append(ents, ent(i, 1, fmt.Sprint("e", i)))
	}
	if err := s.Save(hardState(1, 0, 9), ents); err != nil {
		t.Fatal(err)
	}
	seq := s.segSeq
	if err := s.CreateSnapshot(6, voters3(), []byte("sm@6"), 0); err != nil {
		t.Fatal(err)
	}
	if s.segSeq != seq {
		t.Fatalf("a snapshot of a %d-byte segment rotated it", s.segBytes)
	}
	s = reopenAfterPowerLoss(t, fsys, s)
	defer s.Close()
	got := stateOf(t, s)
	if got.snapIndex != 6 || got.ents != "7/1/e7 8/1/e8 9/1/e9 " {
		t.Fatalf("reopened: %+v, want the snapshot at 6 and entries 7-9", got)
	}
}

// TestFailedFlushLaterFailsTheStore: a sync FlushLater handed out that
// fails fails every Flush, Sync of a vote and rotation after it — only
// one caller of fsync hears of a failure, and the kernel may have
// dropped the pages.
func TestFailedFlushLaterFailsTheStore(t *testing.T) {
	fsys, s := bootstrapped(t)
	defer s.Close()
	s.SetLazy(true)
	if err := s.Save(nil, []*pb.Entry{ent(2, 1, "a")}); err != nil {
		t.Fatal(err)
	}
	sync := s.FlushLater()
	fsys.FailAfter(0)
	if err := sync(); !errors.Is(err, vfs.ErrPowerLoss) {
		t.Fatalf("sync: %v, want the disk's failure", err)
	}
	fsys.FailAfter(-1)
	if err := s.Flush(); !errors.Is(err, vfs.ErrPowerLoss) {
		t.Fatalf("Flush after a failed FlushLater: %v", err)
	}
	if err := s.Save(hardState(2, 1, 1), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); !errors.Is(err, vfs.ErrPowerLoss) {
		t.Fatalf("Sync of a vote after a failed FlushLater: %v", err)
	}
	s.SetRotateBytes(0)
	if err := s.CreateSnapshot(2, voters3(), nil, 0); !errors.Is(err, vfs.ErrPowerLoss) {
		t.Fatalf("a rotating snapshot after a failed FlushLater: %v", err)
	}
}

// A failing sync names the segment by its name on disk, not by the
// temporary name a rotated segment was created under (as the file's own
// error does): that name is gone once the segment is renamed.
func TestSegmentErrorNamesTheSegment(t *testing.T) {
	disk := vfs.NewMem()
	s, err := Open(disk, "/g")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Save(nil, []*pb.Entry{ent(1, 1, "a")}); err != nil {
		t.Fatal(err)
	}
	disk.FailSyncs(errNoSpace)
	err = s.Flush()
	want := "/g/" + segName(s.segSeq) + ":"
	if !errors.Is(err, errNoSpace) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), tmpSuffix) {
		t.Fatalf("Flush: %v; want the disk's error naming %s", err, want)
	}
}

var errNoSpace = errors.New("no space left on device")
