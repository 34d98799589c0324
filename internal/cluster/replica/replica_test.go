package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// memLog is a Log in memory: whole batches, their bases, a synced mark.
type memLog struct {
	batches [][]byte
	next    int64
	synced  int64
	start   int64 // the first offset (after StartAt)
	// committed is what readers see; retained what Retain last kept.
	committed, retained int64
	fail                bool // the next append writes one batch and fails
	// producers is Producers' answer, and what SetProducers set; setAt
	// the log's next offset at each SetProducers. It refuses "refused".
	producers []byte
	setAt     []int64
}

// refuses is what a commitlog refuses of the batches b as a whole,
// writing none: a batch without records, a control batch. (A negative
// count, taken, made the log's end go back, below 0.)
func (l *memLog) refuses(b []byte) error {
	for len(b) > 0 {
		n, _ := recordbatch.Len(b)
		if c := recordbatch.NumRecords(b); c < 1 {
			return fmt.Errorf("memlog: batch of %d records: %w", c, commitlog.ErrCorrupt)
		}
		if h, err := recordbatch.ParseHeader(b[:n]); err == nil && h.Control() {
			return fmt.Errorf("memlog: control batch: %w", commitlog.ErrUnsupported)
		}
		b = b[n:]
	}
	return nil
}

func (l *memLog) AppendBatches(b []byte) (int64, error) {
	if err := l.refuses(b); err != nil {
		return 0, err
	}
	first := l.next
	for len(b) > 0 {
		n, _ := recordbatch.Len(b)
		batch := append([]byte(nil), b[:n]...)
		recordbatch.SetBaseOffset(batch, l.next)
		l.batches = append(l.batches, batch)
		l.next += int64(recordbatch.NumRecords(batch))
		l.committed = l.next
		b = b[n:]
		if l.fail {
			return 0, errors.New("disk gone")
		}
	}
	return first, nil
}

// WriteEntry appends every batch, beyond what is committed.
func (l *memLog) WriteEntry(b []byte) (first, next int64, err error) {
	if err := l.refuses(b); err != nil {
		return 0, 0, err
	}
	if len(b) == 0 {
		return 0, 0, commitlog.ErrEmpty
	}
	committed := l.committed
	first, err = l.AppendBatches(b)
	l.committed = committed
	return first, l.next, err
}

// ReadEntry returns the batches in [first, next).
func (l *memLog) ReadEntry(first, next int64) ([]byte, error) {
	var out []byte
	for _, b := range l.batches {
		if base := recordbatch.BaseOffset(b); base >= first && base < next {
			out = append(out, b...)
		}
	}
	return out, nil
}

// ApplyEntry writes the entry if it is not stored (at < 0) and commits
// it; each batch's base is where it is.
func (l *memLog) ApplyEntry(b []byte, at int64) ([]int64, error) {
	if at < 0 {
		var err error
		if at, _, err = l.WriteEntry(b); err != nil {
			return nil, err
		}
	}
	var bases []int64
	for len(b) > 0 {
		n, _ := recordbatch.Len(b)
		bases = append(bases, at)
		at += int64(recordbatch.NumRecords(b[:n]))
		b = b[n:]
	}
	l.committed = at
	return bases, nil
}

func (l *memLog) Committed() int64 { return l.committed }

func (l *memLog) SetCommitted(off int64) error {
	if off > l.next {
		return fmt.Errorf("commit %d past the end %d", off, l.next)
	}
	l.committed = off
	return nil
}

func (l *memLog) Retain(off int64)     { l.retained = off }
func (l *memLog) RetentionWaits() bool { return false }

func (l *memLog) NextOffset() int64                  { return l.next }
func (l *memLog) EarliestOffset() int64              { return l.start }
func (l *memLog) Sync() error                        { l.synced = l.next; return nil }
func (l *memLog) FsyncPolicy() commitlog.FsyncPolicy { return commitlog.FsyncAlways }

// TruncateTo refuses, cutting nothing, as a commitlog does: an offset
// outside the log or inside a batch.
func (l *memLog) TruncateTo(off int64) error {
	if off < l.start || off > l.next {
		return fmt.Errorf("truncate to %d: outside [%d, %d]", off, l.start, l.next)
	}
	keep := len(l.batches)
	for keep > 0 && recordbatch.BaseOffset(l.batches[keep-1]) >= off {
		keep--
	}
	if keep > 0 {
		last := l.batches[keep-1]
		if recordbatch.BaseOffset(last)+int64(recordbatch.NumRecords(last)) != off {
			return fmt.Errorf("inside a batch: %d", off)
		}
	}
	l.batches, l.next = l.batches[:keep], off
	l.committed = min(l.committed, off)
	return nil
}

func (l *memLog) StartAt(off int64) error {
	if off > l.start && off < l.next {
		return fmt.Errorf("start at %d inside the log [%d, %d)", off, l.start, l.next)
	}
	l.batches, l.next, l.start, l.committed = nil, off, off, off
	return nil
}

func (l *memLog) Producers() ([]byte, error) { return l.producers, nil }

func (l *memLog) SetProducers(state []byte) error {
	if string(state) == `"refused"` {
		return errors.New("producer state refused")
	}
	l.producers, l.setAt = state, append(l.setAt, l.next)
	return nil
}

func (l *memLog) ReadBatches(from int64, maxBytes int) ([]byte, error) {
	if from < l.start {
		return nil, &StartError{Start: l.start}
	}
	var out []byte
	for _, b := range l.batches {
		if recordbatch.BaseOffset(b)+int64(recordbatch.NumRecords(b)) > from && (len(out) == 0 || len(out)+len(b) <= maxBytes) {
			out = append(out, b...)
		}
	}
	return out, nil
}

func batch(n int) []byte {
	var b recordbatch.Builder
	b.Reset(nil)
	for i := range n {
		b.Add(0, 1, nil, []byte{byte(i)}, nil)
	}
	return b.Finish(recordbatch.NewHeader(0))
}

// Apply gives each batch of an entry its base; a malformed entry changes
// nothing; a snapshot records the synced end; Restore cuts a log that is
// ahead back to the snapshot and completes one that is behind from
// another voter (the snapshot's node failing first), or says it cannot.
func TestPartition(t *testing.T) {
	l := &memLog{}
	p := New(l, 1, []uint64{1, 2, 3}, nil)
	r := p.Apply(5, append(batch(2), batch(3)...)).(Result)
	if r.Err != nil || !slices.Equal(r.Bases, []int64{0, 2}) {
		t.Fatalf("apply: %+v", r)
	}
	if r := p.Apply(6, batch(1)[:20]).(Result); r.Err == nil || l.next != 5 {
		t.Fatalf("torn entry: %+v, log at %d", r, l.next)
	}
	snap, err := p.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var s snapshot
	if err := json.Unmarshal(snap, &s); err != nil || !reflect.DeepEqual(s, snapshot{Index: 6, Next: 5, Node: 1}) || l.synced != 5 {
		t.Fatalf("snapshot %+v %v, synced %d", s, err, l.synced)
	}
	p.Apply(7, batch(4))
	if err := p.Restore(snap); err != nil || l.next != 5 || len(l.batches) != 2 {
		t.Fatalf("restore over a log ahead: %v, next %d", err, l.next)
	}

	// A replica with an empty log restores that snapshot: it fetches.
	empty := &memLog{}
	calls := 0
	fetch := func(_ context.Context, node uint64, from int64) ([]byte, error) {
		calls++
		if node == 1 {
			return nil, errors.New("node 1 is down")
		}
		return l.ReadBatches(from, 40) // small answers: several rounds
	}
	q := New(empty, 3, []uint64{1, 2, 3}, fetch)
	err = q.Restore(snap)
	caughtUp(q)
	if err != nil || empty.next != 5 || calls < 3 {
		t.Fatalf("catch-up: %v, next %d, %d calls", err, empty.next, calls)
	}
	for i := range l.batches {
		if string(l.batches[i]) != string(empty.batches[i]) {
			t.Fatalf("batch %d differs after catch-up", i)
		}
	}
	if err := New(&memLog{}, 3, []uint64{1, 2, 3}, nil).Restore(snap); !errors.Is(err, ErrBehind) {
		t.Fatalf("restore behind without a fetch: %v", err)
	}

	// A disk failure midway is sticky until a restore.
	l.fail = true
	if r := p.Apply(8, append(batch(1), batch(1)...)).(Result); r.Err == nil {
		t.Fatal("failed append succeeded")
	}
	l.fail = false
	if r := p.Apply(9, batch(1)).(Result); r.Err == nil {
		t.Fatal("append after a failure that left half an entry succeeded")
	}
	if err := p.Restore(snap); err != nil || l.next != 5 {
		t.Fatalf("restore after a failure: %v", err)
	}
	if r := p.Apply(8, batch(1)).(Result); r.Err != nil || r.Bases[0] != 5 {
		t.Fatalf("apply after the restore: %+v", r)
	}
}

// countingLog counts the appends a catch-up makes: each may cost the real
// log an fsync.
type countingLog struct {
	memLog
	appends int
}

func (l *countingLog) AppendBatches(b []byte) (int64, error) {
	l.appends++
	return l.memLog.AppendBatches(b)
}

// A replica catching up appends each fetched chunk in one call, however
// many batches it holds (a rejoining node once spent most of a minute in
// one fsync per batch while its host's loop waited), skips what it has,
// and stops at the snapshot's end.
func TestCatchUpAppendsAFetchedChunkAtOnce(t *testing.T) {
	src := &memLog{}
	for range 200 {
		if _, err := src.AppendBatches(batch(2)); err != nil {
			t.Fatal(err)
		}
	}
	dst := &countingLog{}
	for range 3 { // the first three batches it has already
		if _, err := dst.memLog.AppendBatches(batch(2)); err != nil {
			t.Fatal(err)
		}
	}
	fetches := 0
	fetch := func(_ context.Context, _ uint64, from int64) ([]byte, error) {
		fetches++
		return src.ReadBatches(max(from-2, 0), 1<<20) // from the batch before
	}
	snap, err := json.Marshal(snapshot{Index: 9, Next: 300, Node: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := New(dst, 2, []uint64{1, 2, 3}, fetch)
	if err := p.Restore(snap); err != nil {
		t.Fatal(err)
	}
	caughtUp(p)
	if dst.next != 300 || dst.appends != 1 || fetches != 1 {
		t.Fatalf("caught up to %d in %d appends and %d fetches; want 300 in 1 and 1", dst.next, dst.appends, fetches)
	}
	for i, b := range dst.batches {
		if string(b) != string(src.batches[i]) {
			t.Fatalf("batch %d differs after catch-up", i)
		}
	}
}

// A fetched answer whose next batch starts at or past the snapshot's end
// while the log is short of it has a gap: the catch-up is not done (it
// was, and the log went on from short of the end, its offsets no longer
// the other replicas').
func TestCatchUpGapAtTheEnd(t *testing.T) {
	past, at := batch(2), batch(2)
	recordbatch.SetBaseOffset(past, 25)
	recordbatch.SetBaseOffset(at, 6)
	for _, answer := range [][]byte{past, append(at, past...)} {
		dst := &memLog{}
		for range 3 {
			dst.AppendBatches(batch(2))
		}
		p := New(dst, 3, []uint64{1, 2, 3}, func(context.Context, uint64, int64) ([]byte, error) { return answer, nil })
		if err := p.fetchFrom(context.Background(), 1, 20); err == nil || dst.next != 6 {
			t.Fatalf("answer with a gap to past the end: %v, log at %d", err, dst.next)
		}
	}
}

// caughtUp waits until p's background catch-up, if any, has finished.
func caughtUp(p *Partition) {
	p.mu.Lock()
	cu := p.behind
	p.mu.Unlock()
	if cu != nil {
		<-cu.done
	}
}

// A catch-up runs off the Raft loop: Restore returns while the fetch is
// still waiting; entries applied meanwhile reach the log, in order, after
// the fetched batches (their proposer learns only that they committed); no
// snapshot is taken meanwhile; Close stops a catch-up that cannot finish.
func TestCatchUpOffTheLoop(t *testing.T) {
	src := &memLog{}
	src.AppendBatches(append(batch(2), batch(3)...))
	snap, err := json.Marshal(snapshot{Index: 6, Next: 5, Node: 1})
	if err != nil {
		t.Fatal(err)
	}
	fetch, gate := gatedFetch(src)
	l := &memLog{}
	p := New(l, 3, []uint64{1, 2, 3}, fetch)
	restored := make(chan error, 1)
	go func() { restored <- p.Restore(snap) }()
	select {
	case err := <-restored:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(gate)
		t.Fatal("Restore waited for the fetch: the Raft loop of every group would")
	}
	if r := p.Apply(7, batch(2)).(Result); !errors.Is(r.Err, ErrCatchingUp) || r.Bases != nil {
		t.Fatalf("apply while catching up: %+v", r)
	}
	if r := p.Apply(8, append(batch(1), batch(1)...)).(Result); !errors.Is(r.Err, ErrCatchingUp) {
		t.Fatalf("apply while catching up: %+v", r)
	}
	if raw, err := p.Snapshot(); !errors.Is(err, multiraft.ErrSnapshotLater) {
		t.Fatalf("snapshot while catching up: %s %v", raw, err)
	}
	if !p.CatchingUp() {
		t.Fatal("CatchingUp is false while the fetch waits")
	}
	close(gate)
	caughtUp(p)
	if p.CatchingUp() {
		t.Fatal("CatchingUp is still true after the catch-up")
	}
	if r := p.Apply(9, batch(1)).(Result); r.Err != nil || !slices.Equal(r.Bases, []int64{9}) || l.next != 10 {
		t.Fatalf("apply after catching up: %+v, log at %d", r, l.next)
	}
	var bases []int64
	for _, b := range l.batches {
		bases = append(bases, recordbatch.BaseOffset(b))
	}
	if !slices.Equal(bases, []int64{0, 2, 5, 7, 8, 9}) {
		t.Fatalf("log batches at %v", bases)
	}

	stuck := New(&memLog{}, 3, []uint64{1, 2, 3}, func(ctx context.Context, _ uint64, _ int64) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err := stuck.Restore(snap); err != nil {
		t.Fatal(err)
	}
	stuck.Close() // returns: the fetch is stopped
	// The group's Raft loop may still apply entries while the node stops:
	// its log, still below the snapshot, must not take them, nor may a
	// snapshot restored now start a catch-up nothing would stop.
	if stuck.CatchingUp() {
		t.Fatal("CatchingUp after Close")
	}
	if r := stuck.Apply(7, batch(1)).(Result); !errors.Is(r.Err, ErrClosed) || stuck.log.NextOffset() != 0 {
		t.Fatalf("apply after Close: %+v, log at %d", r, stuck.log.NextOffset())
	}
	if raw, err := stuck.Snapshot(); !errors.Is(err, multiraft.ErrSnapshotLater) {
		t.Fatalf("snapshot after Close: %s %v", raw, err)
	}
	if err := stuck.Restore(snap); err != nil || stuck.CatchingUp() {
		t.Fatalf("restore after Close: %v, catching up %v", err, stuck.CatchingUp())
	}
}

// failingLog fails or refuses every entry, writing nothing.
type failingLog struct {
	memLog
	err error
}

func (l *failingLog) ApplyEntry([]byte, int64) ([]int64, error) { return nil, l.err }

// An entry this node's log could not take — here reading its own tail
// back failed, writing nothing — fails the replica for good: skipping it
// would leave this replica without an entry every other one has. A
// refusal every replica makes alike (an idempotent producer's gap) does
// not.
func TestOnlyRefusalsLeaveTheReplicaFollowing(t *testing.T) {
	for _, tc := range []struct {
		err    error
		sticky bool
	}{
		{errors.New("read tail: input/output error"), true},
		{api.ErrOutOfOrderSequence.Withf("gap"), false},
		{fmt.Errorf("append: %w", commitlog.ErrBatchTooLarge), false},
	} {
		p := New(&failingLog{err: tc.err}, 1, []uint64{1, 2, 3}, nil)
		if r := p.Apply(2, batch(1)).(Result); !errors.Is(r.Err, tc.err) {
			t.Fatalf("%v: apply answered %v", tc.err, r.Err)
		}
		_, err := p.Snapshot()
		if failed := err != nil; failed != tc.sticky {
			t.Errorf("%v: replica failed %v, want %v", tc.err, failed, tc.sticky)
		}
	}
}

// A replica catching up to a snapshot whose first records every voter has
// since deleted by retention starts its log where the earliest voter's
// log starts and copies the rest, instead of asking for ever while the
// entries applied meanwhile pile up; a voter that still has the records
// is copied from instead. Each source is a log starting at its start
// offset (memLog.StartAt) and holding batches of 2 records up to 20.
func TestCatchUpPastRetention(t *testing.T) {
	cases := []struct {
		name      string
		starts    map[uint64]int64 // each source node's log start
		wantStart int64            // where the catching-up log starts
	}{
		{"every source passed", map[uint64]int64{1: 10, 2: 6}, 6},
		{"one source still has it", map[uint64]int64{1: 10, 2: 0}, 0},
		{"past the snapshot's end", map[uint64]int64{1: 24, 2: 30}, 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srcs := map[uint64]*memLog{}
			for node, start := range tc.starts {
				srcs[node] = sourceLog(t, start, 20)
			}
			p, dst := restoreBehind(t, func(_ context.Context, node uint64, from int64) ([]byte, error) {
				return srcs[node].ReadBatches(from, 1<<20)
			})
			done := make(chan struct{})
			go func() { caughtUp(p); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				p.Close()
				t.Fatalf("still catching up after 10 s, log at %d", dst.next)
			}
			if p.failed != nil || dst.start != tc.wantStart || dst.next != 20 {
				t.Fatalf("caught up: failed %v, log [%d, %d), want [%d, 20)", p.failed, dst.start, dst.next, tc.wantStart)
			}
			if r := p.Apply(10, batch(1)).(Result); r.Err != nil || r.Bases[0] != 20 {
				t.Fatalf("apply after the catch-up: %+v", r)
			}
		})
	}
}

// A voter that does not answer may still have the records the others'
// retention deleted: the catch-up waits for it rather than start its log
// later and lose them for good.
func TestCatchUpWaitsForAVoterThatMayHaveThem(t *testing.T) {
	passedOn, later := sourceLog(t, 10, 20), sourceLog(t, 0, 20)
	var mu sync.Mutex
	calls := 0
	fetch := func(_ context.Context, node uint64, from int64) ([]byte, error) {
		if node == 1 {
			return passedOn.ReadBatches(from, 1<<20)
		}
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls <= 3 { // down for the first three rounds
			return nil, errors.New("node 2 unreachable")
		}
		return later.ReadBatches(from, 1<<20)
	}
	p, dst := restoreBehind(t, fetch)
	caughtUp(p)
	if p.failed != nil || dst.start != 0 || dst.next != 20 || len(dst.batches) != 10 {
		t.Fatalf("caught up: failed %v, log [%d, %d) of %d batches, want [0, 20) of 10", p.failed, dst.start, dst.next, len(dst.batches))
	}
}

// sourceLog is another voter's log: it starts at start and holds batches of
// two records up to end (or nothing, if it starts past end).
func sourceLog(t *testing.T, start, end int64) *memLog {
	t.Helper()
	l := &memLog{}
	if err := l.StartAt(start); err != nil {
		t.Fatal(err)
	}
	for l.next < end {
		l.AppendBatches(batch(2))
	}
	return l
}

// restoreBehind restores, on node 3 of three with an empty log, a snapshot
// of node 1 that ends at offset 20, so that it catches up through fetch.
func restoreBehind(t *testing.T, fetch Fetch) (*Partition, *memLog) {
	t.Helper()
	snap, err := json.Marshal(snapshot{Index: 9, Next: 20, Node: 1})
	if err != nil {
		t.Fatal(err)
	}
	dst := &memLog{}
	p := New(dst, 3, []uint64{1, 2, 3}, fetch)
	if err := p.Restore(snap); err != nil {
		t.Fatal(err)
	}
	return p, dst
}

// heldLog is a memLog whose ApplyEntry, once entered (said on entered),
// waits until hold is closed: a slow disk.
type heldLog struct {
	*memLog
	entered chan struct{}
	hold    chan struct{}
}

func (l *heldLog) ApplyEntry(b []byte, at int64) ([]int64, error) {
	select {
	case l.entered <- struct{}{}:
	default:
	}
	<-l.hold
	return l.memLog.ApplyEntry(b, at)
}

// Snapshot, which the host asks of a group at its log's bound every pass,
// answers at once while a finished catch-up appends the entries queued
// meanwhile: it waited for all of them, on the Raft loop every group of
// the node shares (a review found it: 2 s for 100 slow appends).
func TestSnapshotDoesNotWaitForTheQueuedAppends(t *testing.T) {
	src := sourceLog(t, 0, 20)
	fetch, gate := gatedFetch(src)
	snap, err := json.Marshal(snapshot{Index: 9, Next: 20, Node: 1})
	if err != nil {
		t.Fatal(err)
	}
	l := &heldLog{memLog: &memLog{}, entered: make(chan struct{}, 1), hold: make(chan struct{})}
	p := New(l, 3, []uint64{1, 2, 3}, fetch)
	if err := p.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if r := p.Apply(10, batch(1)).(Result); !errors.Is(r.Err, ErrCatchingUp) {
		t.Fatalf("apply while catching up: %+v", r)
	}
	close(gate)
	<-l.entered // the catch-up is done fetching, and appends the queued entry
	answered := make(chan error, 1)
	go func() {
		_, err := p.Snapshot()
		answered <- err
	}()
	select {
	case err := <-answered:
		if !errors.Is(err, multiraft.ErrSnapshotLater) {
			t.Fatalf("snapshot while the queue is appended: %v, want ErrSnapshotLater", err)
		}
	case <-time.After(5 * time.Second):
		close(l.hold)
		t.Fatal("Snapshot waited for the queued appends")
	}
	close(l.hold)
	caughtUp(p)
	if _, err := p.Snapshot(); err != nil {
		t.Fatalf("snapshot after the catch-up: %v", err)
	}
}

// gatedFetch is a Fetch from src that answers once gate is closed.
func gatedFetch(src *memLog) (Fetch, chan struct{}) {
	gate := make(chan struct{})
	return func(ctx context.Context, _ uint64, from int64) ([]byte, error) {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return src.ReadBatches(from, 1<<20)
	}, gate
}

// A snapshot Restore refuses changes nothing: not the log (damaged or
// forged ones cut it back to their end, all of it for JSON null), nor the
// applied index, nor a failure (cleared, it had a log not cut back take
// the entries after the snapshot again), nor a running catch-up (stopped,
// the entries queued behind it were lost). Each case restores onto node
// 1's log of batches of two up to 10 (starting at start), failed, at
// applied index 5; or, catchingUp, onto node 3's empty log catching up to
// a snapshot ending at 20, with an entry queued.
func TestRefusedRestoreChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name       string
		snap       string
		start      int64
		catchingUp bool
		want       error // nil: the log's own refusal
	}{
		{name: "not JSON", snap: `{"index":7,"next":`, want: ErrBadSnapshot},
		{name: "JSON null", snap: `null`, want: ErrBadSnapshot},
		{name: "empty object", snap: `{}`, want: ErrBadSnapshot},
		{name: "no node", snap: `{"index":7,"next":4}`, want: ErrBadSnapshot},
		{name: "next below 0", snap: `{"index":7,"next":-2,"node":2}`, want: ErrBadSnapshot},
		{name: "next inside a batch", snap: `{"index":7,"next":5,"node":2}`},
		{name: "past the log, no fetch", snap: `{"index":7,"next":30,"node":2}`, want: ErrBehind},
		{name: "null while catching up", snap: `null`, catchingUp: true, want: ErrBadSnapshot},
		{name: "before the one caught up to", snap: `{"index":12,"next":10,"node":2}`, catchingUp: true, want: ErrBadSnapshot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				p       *Partition
				l       *memLog
				failed  error
				applied uint64 = 5
				cu      *catchUp
				logNow  = func() memLog { return copyLog(l) }
			)
			if tc.catchingUp {
				fetch, gate := gatedFetch(sourceLog(t, 0, 20))
				defer close(gate)
				p, l = restoreBehind(t, fetch)
				defer p.Close()
				if r := p.Apply(10, batch(1)).(Result); !errors.Is(r.Err, ErrCatchingUp) {
					t.Fatalf("apply while catching up: %+v", r)
				}
				applied, cu = 10, p.behind
			} else {
				l = sourceLog(t, tc.start, 10)
				p = New(l, 1, []uint64{1, 2, 3}, nil)
				failed = errors.New("disk gone")
				p.applied, p.failed = applied, failed
			}
			before := logNow()
			err := p.Restore([]byte(tc.snap))
			switch {
			case err == nil:
				t.Fatal("restored")
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("refused with %v, want %v", err, tc.want)
			}
			if diff := cmp.Diff(before, logNow(), cmp.AllowUnexported(memLog{})); diff != "" {
				t.Errorf("log changed (-before +after):\n%s", diff)
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.applied != applied || p.failed != failed || p.behind != cu || (cu != nil && len(cu.queued) != 1) {
				t.Errorf("applied %d, failed %v, catch-up %p; want %d, %v, %p with its entry", p.applied, p.failed, p.behind, applied, failed, cu)
			}
		})
	}
}

// A replica restarts over a log whose retention deleted records past its
// snapshot's end (or any, with no snapshot yet): the log starts over empty
// at that end, the failure heals, and the entries after the snapshot,
// applied again, get the offsets they had. A snapshot ending inside the
// log still cuts it back there. Node 1's log held batches of two from 0
// to 10, at indexes 1 to 5, and a failure; retention deleted those below
// 6. (Restore refused a snapshot ending below the log's start, and the
// partition never started on that node again.)
func TestRestorePastRetention(t *testing.T) {
	for _, tc := range []struct {
		name  string
		snap  []byte
		index uint64 // the snapshot's
		next  int64  // the snapshot's
	}{
		{name: "no snapshot yet", snap: nil},
		{name: "below the log's start", snap: []byte(`{"index":2,"next":4,"node":1}`), index: 2, next: 4},
		{name: "at the log's start", snap: []byte(`{"index":3,"next":6,"node":1}`), index: 3, next: 6},
		{name: "inside the log", snap: []byte(`{"index":4,"next":8,"node":1}`), index: 4, next: 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := sourceLog(t, 0, 10)
			l.batches, l.start = l.batches[3:], 6 // retention
			p := New(l, 1, []uint64{1, 2, 3}, nil)
			p.applied, p.failed = 5, errors.New("disk gone")
			if err := p.Restore(tc.snap); err != nil {
				t.Fatal(err)
			}
			if start := min(6, tc.next); l.start != start || l.next != tc.next || p.applied != tc.index || p.failed != nil {
				t.Fatalf("log [%d, %d), applied %d, failed %v; want [%d, %d), applied %d, healed", l.start, l.next, p.applied, p.failed, start, tc.next, tc.index)
			}
			for i := tc.index + 1; i <= 5; i++ {
				want := 2 * int64(i-1)
				if r := p.Apply(i, batch(2)).(Result); r.Err != nil || !slices.Equal(r.Bases, []int64{want}) {
					t.Fatalf("entry %d applied again: %+v, want base %d", i, r, want)
				}
			}
		})
	}
}

// A Close that runs while Restore waits for the catch-up it replaces to
// stop leaves nothing running: Restore started the next catch-up anyway,
// which nothing would stop (the group was stopping).
func TestRestoreDuringCloseStartsNoCatchUp(t *testing.T) {
	entered, cancelled, release := make(chan struct{}, 1), make(chan struct{}, 1), make(chan struct{})
	signal := func(c chan struct{}) {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	fetch := func(ctx context.Context, _ uint64, _ int64) ([]byte, error) {
		signal(entered)
		<-ctx.Done()
		signal(cancelled)
		<-release
		return nil, ctx.Err()
	}
	p, _ := restoreBehind(t, fetch)
	defer p.Close()
	<-entered // the first catch-up is fetching
	later, err := json.Marshal(snapshot{Index: 12, Next: 30, Node: 1})
	if err != nil {
		t.Fatal(err)
	}
	restored := make(chan error, 1)
	go func() { restored <- p.Restore(later) }()
	<-cancelled // Restore stops the first catch-up, and waits for it
	p.Close()
	close(release)
	if err := <-restored; err != nil {
		t.Fatal(err)
	}
	if p.CatchingUp() {
		t.Fatal("a catch-up runs after Close")
	}
}

// batchHeldLog is a memLog whose AppendBatches, once it has appended,
// waits until hold is closed.
type batchHeldLog struct {
	*memLog
	hold chan struct{}
}

func (l *batchHeldLog) AppendBatches(b []byte) (int64, error) {
	base, err := l.memLog.AppendBatches(b)
	<-l.hold
	return base, err
}

// A catch-up to a snapshot ending inside a batch (forged: no replica's
// log ends there) copies that batch whole, past the end. A Restore then
// stops it, and the log refuses to be cut back inside the batch: the
// entries queued behind the catch-up are gone with it, so the replica
// fails rather than append the next entries after a log that lacks them.
func TestRestoreAfterACatchUpPastItsEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := sourceLog(t, 0, 20)
		l := &batchHeldLog{memLog: &memLog{}, hold: make(chan struct{})}
		p := New(l, 3, []uint64{1, 2, 3}, func(_ context.Context, _ uint64, from int64) ([]byte, error) {
			return src.ReadBatches(from, 1<<20)
		})
		defer p.Close()
		if err := p.Restore([]byte(`{"index":9,"next":19,"node":1}`)); err != nil {
			t.Fatal(err)
		}
		if r := p.Apply(10, batch(1)).(Result); !errors.Is(r.Err, ErrCatchingUp) {
			t.Fatalf("apply while catching up: %+v", r)
		}
		synctest.Wait() // the catch-up has appended up to 20, and is held
		restored := make(chan error, 1)
		go func() { restored <- p.Restore([]byte(`{"index":11,"next":19,"node":1}`)) }()
		synctest.Wait() // Restore waits for the catch-up it stopped
		close(l.hold)
		if err := <-restored; err == nil {
			t.Fatal("restored inside a batch")
		}
		if r := p.Apply(12, batch(1)).(Result); r.Err == nil {
			t.Fatalf("apply after the refused restore: %+v; the entry queued at 10 is lost", r)
		}
	})
}
