package coordinator

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
)

// hold runs act, whose first offset write is held in the store until the
// returned release is called (at the latest when t ends), and failing if
// fail; act runs in its own goroutine, and done is closed when it
// returns.
func (f *ackFixture) hold(t *testing.T, fail int, act func()) (release func(), done chan struct{}) {
	entered, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.failWrites(fail)
	f.r.mu.Lock()
	f.r.gate = func() { once.Do(func() { close(entered); <-gate }) }
	f.r.mu.Unlock()
	done = make(chan struct{})
	go func() { defer close(done); act() }()
	<-entered
	release = sync.OnceFunc(func() { close(gate) })
	t.Cleanup(func() { release(); <-done })
	return release, done
}

// numberWrite numbers a command's write of tp's state as it stands (its
// deletion if deleted), as a command does under the group's lock before
// it performs it.
func (f *ackFixture) numberWrite(cg *cgroup, tp delivery.TP, deleted bool) pending {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	committed, acked, _ := cg.a.Snapshot(tp)
	return f.c.doneLocked(cg, groupstate.Effects{Offsets: []groupstate.OffsetWrite{{TP: tp, Committed: committed, Acked: acked, Deleted: deleted}}})
}

// A read of the committed offsets waits for the timer's write of an
// ack's failed write, which a later failure may put back: it answered the
// offset in memory at once while that write was in the store (the write
// was no longer counted in progress, nor kept unwritten), and UNAVAILABLE
// again once it failed; a restart or the group's next coordinator then
// had the offset before it.
func TestOffsetsReadWaitsForARewriteInProgress(t *testing.T) {
	synctest.Test(t, offsetsReadWaitsForARewrite)
}

func offsetsReadWaitsForARewrite(t *testing.T) {
	f := newAckFixture(t, 5)
	f.failWrites(1)
	if err := f.ack(0, 5); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("ack whose write fails: %v, want UNAVAILABLE", err)
	}
	f.clock.Add(int64(rewriteAfter))
	release, ticked := f.hold(t, 1, func() { f.c.tick() }) // the timer's try, which will fail

	read := f.readOffsets()
	synctest.Wait()
	read.waiting(t, "read during the rewrite")
	release()
	<-ticked
	read.unavailable(t, "read of a rewrite that failed")
}

// GET /groups/{group}, the metrics, the lag history and a reset's preview
// show a group's committed offsets (and the lag from them) as written, at
// once: an ack
// whose write is in the store, or failed and kept for the timer to write
// again, shows the offset before it. They showed the offset in memory, a
// moment later gone back (the write failed, the broker restarted, another
// node took the group over).
func TestDescriptionShowsWrittenOffsets(t *testing.T) {
	synctest.Test(t, descriptionShowsWrittenOffsets)
}

func descriptionShowsWrittenOffsets(t *testing.T) {
	f := newAckFixture(t, 10)
	readers := []struct {
		name string
		read func() (committed, lag int64)
	}{
		{"DescribeGroup", func() (int64, int64) {
			d, err := f.c.DescribeGroup("g")
			if err != nil || len(d.Partitions) != 1 {
				t.Fatalf("DescribeGroup: %+v, %v", d, err)
			}
			if d.Lag != d.Partitions[0].Lag {
				t.Errorf("DescribeGroup: group lag %d, partition lag %d", d.Lag, d.Partitions[0].Lag)
			}
			return d.Partitions[0].Committed, d.Partitions[0].Lag
		}},
		{"Groups", func() (int64, int64) {
			gs := f.c.Groups()
			if len(gs) != 1 || len(gs[0].Partitions) != 1 {
				t.Fatalf("Groups: %+v", gs)
			}
			return gs[0].Partitions[0].Committed, gs[0].Lag
		}},
		{"GroupStats", func() (int64, int64) {
			gs := f.c.GroupStats()
			if len(gs) != 1 || len(gs[0].Partitions) != 1 {
				t.Fatalf("GroupStats: %+v", gs)
			}
			return gs[0].Partitions[0].Committed, gs[0].Partitions[0].Lag
		}},
		{"ResetOffsets dry run", func() (int64, int64) { // its "from"; no lag
			res, err := f.c.ResetOffsets("g", ResetParams{To: ResetShift, Shift: -1, DryRun: true})
			if err != nil || len(res.Changes) != 1 {
				t.Fatalf("ResetOffsets dry run: %+v, %v", res, err)
			}
			return res.Changes[0].From, -1
		}},
	}
	want := func(step string, committed int64) {
		t.Helper()
		for _, r := range readers {
			if c, lag := r.read(); c != committed || lag != -1 && lag != 10-committed {
				t.Errorf("%s, %s: committed %d, lag %d; want %d, %d", step, r.name, c, lag, committed, 10-committed)
			}
		}
	}
	if err := f.ack(0, 3); err != nil {
		t.Fatal(err)
	}
	want("written", 3)

	release, done := f.hold(t, 0, func() { f.ack(3, 6) }) //nolint:errcheck // its answer is not what is tested
	want("an ack's write in the store", 3)
	release()
	<-done
	want("that write done", 6)

	release, done = f.hold(t, 1, func() { f.ack(6, 9) }) //nolint:errcheck // it fails: applied, not durable
	want("an ack's write in the store, to fail", 6)
	release()
	<-done
	want("that write failed, kept to write again", 6)

	f.clock.Add(int64(rewriteAfter))
	release, done = f.hold(t, 0, func() { f.c.tick() })
	want("the timer's write of it in the store", 6)
	release()
	<-done
	want("written again", 9)
	if got := f.committed(); got != 9 {
		t.Fatalf("replicated: committed %d, want 9", got)
	}

	// Adopted again, as after a failover (the group empty): what it was
	// adopted with shows while its first write is in the store.
	if err := f.c.LeaveGroup("g", f.jr.MemberID); err != nil {
		t.Fatal(err)
	}
	f.r.adopt(f.c, 2)
	release, done = f.hold(t, 0, func() { f.c.ResetOffsets("g", ResetParams{To: ResetOffsets, Offsets: Offsets{"t": {0: 10}}}) }) //nolint:errcheck // its answer is not what is tested
	want("adopted, a reset's write in the store", 9)
	release()
	<-done
	want("the reset written", 10)

	// Offsets deleted (the group subscribing to nothing) are shown until
	// the deletion is written.
	release, done = f.hold(t, 1, func() { f.c.ResetOffsets("g", ResetParams{To: ResetDelete, Topics: []string{"t"}}) }) //nolint:errcheck // it fails
	want("a deletion's write in the store, to fail", 10)
	release()
	<-done
	want("that deletion failed, kept to write again", 10)
	f.clock.Add(int64(rewriteAfter))
	f.c.tick()
	if d, err := f.c.DescribeGroup("g"); err != nil || len(d.Partitions) != 0 {
		t.Fatalf("once the deletion is written: %+v, %v; want no partitions", d.Partitions, err)
	}
	// Nor does the group keep what it wrote of them: a group outliving
	// many topics (created and deleted under a regex subscription, say)
	// kept an entry for each of their partitions.
	cg, err := f.c.lookup("g")
	if err != nil {
		t.Fatal(err)
	}
	cg.mu.Lock()
	kept := len(cg.written)
	cg.mu.Unlock()
	if kept != 0 {
		t.Errorf("the group keeps the written offsets of %d partitions deleted", kept)
	}
}

// A command's offset write that a newer one of the same partition
// supersedes as it carries the group's failed writes (a command numbered
// its write, another numbered a later one whose write failed before the
// first's started) ends with the write that superseded it. It stayed in
// progress for good: every read of the group's offsets then waited
// durableReadWait and answered UNAVAILABLE, until a restart. A later
// deletion so written leaves nothing of the partition in written.
func TestSupersededOffsetWriteEnds(t *testing.T) {
	for _, deleted := range []bool{false, true} {
		t.Run(fmt.Sprintf("deleted=%v", deleted), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { supersededOffsetWriteEnds(t, deleted) })
		})
	}
}

func supersededOffsetWriteEnds(t *testing.T, deleted bool) {
	f := newAckFixture(t, 10)
	cg, err := f.c.lookup("g")
	if err != nil {
		t.Fatal(err)
	}
	tp := delivery.TP{Topic: "t"}
	// Two commands' writes of t/0, numbered in this order, as a command
	// does under the group's lock before it performs them; the second's
	// a deletion, or not.
	first, second := f.numberWrite(cg, tp, false), f.numberWrite(cg, tp, deleted)
	f.failWrites(1)
	if err := f.c.perform(cg, second); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("the second write: %v, want it failed", err)
	}
	first.durable = true // an ack's: it carries the failed second
	if err := f.c.perform(cg, first); err != nil {
		t.Fatalf("the first write, carrying the second: %v", err)
	}
	if offs, err := f.c.GroupOffsets("g"); err != nil || offs["t"][0] != 0 {
		t.Fatalf("offsets once both are written: %v, %v; want t/0 at 0", offs, err)
	}
	cg.mu.Lock()
	w, kept := cg.written[tp]
	cg.mu.Unlock()
	if kept == deleted {
		t.Fatalf("written keeps t/0: %v (%+v); want %v", kept, w, !deleted)
	}
}

// A read of the committed offsets whose partition's write failed, and
// was then carried (and failed again, or is in the store) in a write
// numbered after the read, does not answer it: the later write's number
// hid the earlier one, and the read answered the offset in memory that
// no write had made durable.
func TestOffsetsReadSeesAFailureCarriedLater(t *testing.T) {
	synctest.Test(t, offsetsReadSeesAFailureCarriedLater)
}

func offsetsReadSeesAFailureCarriedLater(t *testing.T) {
	f := newAckFixture(t, 10)
	if err := f.ack(0, 3); err != nil {
		t.Fatal(err)
	}
	cg, err := f.c.lookup("g")
	if err != nil {
		t.Fatal(err)
	}
	tp := delivery.TP{Topic: "t"}
	// A commit of 6, numbered and not yet performed, as a command leaves
	// it when it releases the group's lock.
	cg.mu.Lock()
	fx, err := cg.a.Commit(f.c.now(), f.jr.MemberID, f.jr.Generation, "h", []groupstate.Ref{{TP: tp, Offset: 6}}, nil, f.c.topicView([]string{"t"}))
	commit := f.c.doneLocked(cg, fx)
	cg.mu.Unlock()
	if err != nil || len(commit.writes) != 1 {
		t.Fatalf("commit: %+v, %v", commit, err)
	}
	read := f.readOffsets() // reads t/0 at 6, and waits for its write
	synctest.Wait()

	// Another command writes t/0 again (its state unchanged) and fails;
	// the commit's write carries that one in place of its own, and fails.
	again := f.numberWrite(cg, tp, false)
	f.failWrites(2)
	if err := f.c.perform(cg, again); err == nil {
		t.Fatal("the second write did not fail")
	}
	commit.durable = true
	if err := f.c.perform(cg, commit); err == nil {
		t.Fatal("the commit's write did not fail")
	}
	if c := f.committed(); c != 3 {
		t.Fatalf("written: t/0 at %d, want 3", c)
	}
	read.unavailable(t, "read of a write that failed")
}

// The timer's try of a group's failed offset writes comes within
// rewriteAfter whatever the group's commands schedule meanwhile. A
// command's next deadline replaced it: a heartbeat's put it off to the
// group's next deadline, and the topics' sync of an empty group (a topic
// created or deleted anywhere) cancelled it. The write then waited for
// the group's next write, maybe for good: every read of its offsets
// answered UNAVAILABLE, and a restart or the next coordinator had the
// offset before it.
func TestFailedOffsetWriteRetriedWhateverIsScheduled(t *testing.T) {
	for _, tc := range []struct {
		name string
		then func(f *ackFixture) error
	}{
		{"a heartbeat", func(f *ackFixture) error {
			if err := f.ack(0, 10); !errors.Is(err, api.ErrUnavailable) {
				return fmt.Errorf("ack whose write fails: %v, want UNAVAILABLE", err)
			}
			_, err := f.c.Heartbeat("g", HeartbeatParams{MemberID: f.jr.MemberID, Generation: f.jr.Generation, Owned: f.jr.Assigned}, "h")
			return err
		}},
		{"the topics' sync of an empty group", func(f *ackFixture) error {
			if err := f.c.LeaveGroup("g", f.jr.MemberID); err != nil {
				return err
			}
			if _, err := f.c.ResetOffsets("g", ResetParams{To: ResetOffsets, Offsets: Offsets{"t": {0: 10}}}); !errors.Is(err, api.ErrUnavailable) {
				return fmt.Errorf("reset whose write fails: %v, want UNAVAILABLE", err)
			}
			f.c.syncTopics()
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newAckFixture(t, 10)
				f.failWrites(1)
				if err := tc.then(f); err != nil {
					t.Fatal(err)
				}
				f.clock.Add(int64(rewriteAfter))
				f.c.tick()
				if got := f.committed(); got != 10 {
					t.Errorf("a tick after rewriteAfter: committed %d, want 10", got)
				}
				if offs, err := f.c.GroupOffsets("g"); err != nil || offs["t"][0] != 10 {
					t.Errorf("read after the tick: %v, %v; want t/0 at 10", offs, err)
				}
			})
		})
	}
}

// A deletion written while an older write of its partition is still in
// the store is kept in written only until that write ends (written, or
// failed and written again later): it stayed for good, the older write
// ending after it recording nothing, so that a group outliving many
// topics still grew written without bound.
func TestDeletionWrittenFirstIsForgotten(t *testing.T) {
	for _, olderFails := range []bool{false, true} {
		t.Run(fmt.Sprintf("olderFails=%v", olderFails), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { deletionWrittenFirstIsForgotten(t, olderFails) })
		})
	}
}

func deletionWrittenFirstIsForgotten(t *testing.T, olderFails bool) {
	f := newAckFixture(t, 10)
	cg, err := f.c.lookup("g")
	if err != nil {
		t.Fatal(err)
	}
	tp := delivery.TP{Topic: "t"}
	// Two commands' writes of t/0, numbered in this order under the
	// group's lock: an older one, then a deletion, which ends first.
	older, deletion := f.numberWrite(cg, tp, false), f.numberWrite(cg, tp, true)
	if err := f.c.perform(cg, deletion); err != nil {
		t.Fatalf("the deletion: %v", err)
	}
	if olderFails {
		f.failWrites(1)
	}
	if err := f.c.perform(cg, older); (err != nil) != olderFails {
		t.Fatalf("the older write: %v", err)
	}
	if olderFails {
		f.clock.Add(int64(rewriteAfter))
		f.c.tick() // writes it again
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if len(cg.writing) != 0 || len(cg.unwritten) != 0 {
		t.Fatalf("writes still pending: %v, %v", cg.writing, cg.unwritten)
	}
	if w, kept := cg.written[tp]; kept {
		t.Errorf("written keeps the deletion of t/0: %+v", w)
	}
}

// An offset write that a newer write of its partition, written,
// supersedes (started before that one ended, and so not carried by it:
// two commands' writes in flight together, or two Raft proposals) holds
// no read of the group's offsets: failed, it is not kept to write again;
// in the store, no read waits for it. Kept, every read answered
// UNAVAILABLE (503) until the timer wrote it again, to no effect, up to
// rewriteAfter later; in the store, reads waited for it.
func TestSupersededWriteHoldsNoRead(t *testing.T) {
	for _, older := range []string{"fails after", "fails before", "in the store"} {
		t.Run(older, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { supersededWriteHoldsNoRead(t, older) })
		})
	}
}

func supersededWriteHoldsNoRead(t *testing.T, older string) {
	f := newAckFixture(t, 10)
	if err := f.ack(0, 3); err != nil {
		t.Fatal(err)
	}
	cg, err := f.c.lookup("g")
	if err != nil {
		t.Fatal(err)
	}
	tp := delivery.TP{Topic: "t"}
	// Two commands' writes of t/0, numbered in this order under the
	// group's lock; the older one fails, or stays in the store.
	first, second := f.numberWrite(cg, tp, false), f.numberWrite(cg, tp, false)
	fail := func() {
		f.failWrites(1)
		if err := f.c.perform(cg, first); !errors.Is(err, api.ErrUnavailable) {
			t.Fatalf("the older write: %v, want it failed", err)
		}
	}
	switch older {
	case "fails before":
		fail()
	case "in the store":
		f.hold(t, 0, func() { f.c.perform(cg, first) }) //nolint:errcheck // held until the test ends
		f.r.mu.Lock()
		f.r.gate = nil // the newer write passes
		f.r.mu.Unlock()
	}
	if err := f.c.perform(cg, second); err != nil {
		t.Fatalf("the newer write: %v", err)
	}
	if older == "fails after" {
		fail()
	}
	read := f.readOffsets()
	synctest.Wait()
	select {
	case a := <-read.answer:
		if a.err != nil || a.offs["t"][0] != 3 {
			t.Fatalf("offsets read: %v, %v; want t/0 at 3", a.offs, a.err)
		}
	default:
		t.Fatal("the offsets read waits")
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if len(cg.unwritten) != 0 {
		t.Errorf("kept to write again: %v", cg.unwritten)
	}
}

// Kafka's OffsetFetch without require_stable answers a partition being
// written with the offset written before and the metadata written with
// it, not the metadata of the commit in progress.
func TestCommitsAsWrittenKeepTheirMetadata(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newAckFixture(t, 10)
		commit := func(off int64, text string) error {
			return f.c.CommitOffsets("g", CommitParams{MemberID: f.jr.MemberID, Generation: f.jr.Generation,
				Offsets: Offsets{"t": {0: off}}, Metadata: CommitMetadata{"t": {0: text}}}, "h")
		}
		if err := commit(3, "three"); err != nil {
			t.Fatal(err)
		}
		f.hold(t, 0, func() { commit(6, "six") }) //nolint:errcheck // held until the test ends
		got, err := f.c.GroupCommits("g", false)
		if err != nil || got.Offsets["t"][0] != 3 || got.Metadata["t"][0] != "three" {
			t.Fatalf("during the commit of 6: %+v, %v; want t/0 at 3, \"three\"", got, err)
		}
	})
}

// An applied reset's "from" is the offset its write replaces durably: as
// written, as its preview shows it; and a shift counts from it, as the
// preview does. Read from memory, it showed an ack whose write had failed
// (kept to write again, which the reset's write then superseded): an
// offset never written, that no restart or next coordinator would have
// had; and a shift applied counted from that offset, not the previewed.
func TestResetFromIsAsWritten(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reset ResetParams
		to    int64
	}{
		{"to an offset", ResetParams{To: ResetOffsets, Offsets: Offsets{"t": {0: 2}}}, 2},
		{"by a shift", ResetParams{To: ResetShift, Shift: -1}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { resetFromIsAsWritten(t, tc.reset, tc.to) })
		})
	}
}

func resetFromIsAsWritten(t *testing.T, reset ResetParams, to int64) {
	f := newAckFixture(t, 10)
	if err := f.ack(0, 6); err != nil {
		t.Fatal(err)
	}
	f.failWrites(1)
	if err := f.ack(6, 9); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("ack whose write fails: %v, want UNAVAILABLE", err)
	}
	if err := f.c.LeaveGroup("g", f.jr.MemberID); err != nil {
		t.Fatal(err)
	}
	if c := f.committed(); c != 6 {
		t.Fatalf("written before the reset: t/0 at %d, want 6", c)
	}
	for _, dryRun := range []bool{true, false} {
		reset.DryRun = dryRun
		res, err := f.c.ResetOffsets("g", reset)
		if err != nil || len(res.Changes) != 1 {
			t.Fatalf("reset (dry run %v): %+v, %v", dryRun, res, err)
		}
		if ch := res.Changes[0]; ch.From != 6 || ch.To != to {
			t.Errorf("reset (dry run %v): from %d to %d; want from 6 (as written) to %d", dryRun, ch.From, ch.To, to)
		}
	}
	if c := f.committed(); c != to {
		t.Fatalf("written after the reset: t/0 at %d, want %d", c, to)
	}
}
