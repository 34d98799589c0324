package coordinator

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// fakeRepl is a Replicated keeping, like a group shard, the last write of
// each partition and the epoch of the last claim, refusing older epochs.
type fakeRepl struct {
	mu     sync.Mutex
	claim  uint64
	stored map[string]map[delivery.TP]offsetstore.Offset
	saved  map[string]groupstate.Saved
	// classic is each group's classic membership (SaveClassic).
	classic map[string][]byte
	fail    int // offset writes still to fail (as a proposal that times out)
	// gate, if set, is called (outside mu) by each offset write before it
	// is applied or failed; confirming, by each Confirm.
	gate, confirming func()
	// readPoint, if set, is called (outside mu) by each ReadPoint.
	readPoint func(topic string, partition int32) error
	// floor and ceiling are the generations as a shard keeps them: each
	// new claim starts at the ceiling and reserves fakeBlock more;
	// reserved counts the ReserveGenerations that wrote.
	floor, ceiling int64
	reserved       int
	// active and alive are the offsets retention's clocks (SaveActive,
	// SaveAlive).
	active map[string]int64
	alive  int64
	// failDeletes, while set, refuses group deletions as a shard that
	// takes no write does; deletes counts the tries.
	failDeletes bool
	deletes     int
}

// fakeBlock is the generations fakeRepl reserves at a time: few, so that
// a test crosses a ceiling.
const fakeBlock = 10

func (r *fakeRepl) claimEpoch(e uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e > r.claim {
		r.floor = r.ceiling
		r.ceiling += fakeBlock
	}
	r.claim = e
}

func (r *fakeRepl) Generations(string) (floor, ceiling int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.floor, r.ceiling
}

func (r *fakeRepl) ReserveGenerations(_ string, epoch uint64, gen int64) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fencedLocked(epoch); err != nil {
		return 0, err
	}
	r.reserved++
	r.ceiling = max(r.ceiling, gen+fakeBlock)
	return r.ceiling, nil
}

func (r *fakeRepl) fencedLocked(epoch uint64) error {
	if epoch < r.claim {
		return api.ErrNotCoordinator.Withf("fenced: epoch %d < %d", epoch, r.claim)
	}
	return nil
}

func (r *fakeRepl) Epoch(string) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.claim, r.claim != 0
}

func (r *fakeRepl) WriteOffsets(group string, epoch uint64, ws []offsetstore.Write) error {
	r.mu.Lock()
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		gate()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fencedLocked(epoch); err != nil {
		return err
	}
	if r.fail > 0 {
		r.fail--
		return api.ErrUnavailable.Withf("the write was not replicated in time")
	}
	if r.stored[group] == nil {
		r.stored[group] = map[delivery.TP]offsetstore.Offset{}
	}
	for _, w := range ws {
		r.stored[group][w.TP] = w.Offset
	}
	return nil
}

func (r *fakeRepl) SaveSettings(group string, epoch uint64, s groupstate.Saved) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fencedLocked(epoch); err != nil {
		return err
	}
	r.saved[group] = s
	return nil
}

func (r *fakeRepl) SaveClassic(group string, epoch uint64, members []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fencedLocked(epoch); err != nil {
		return err
	}
	if r.classic == nil {
		r.classic = map[string][]byte{}
	}
	if len(members) == 0 {
		delete(r.classic, group)
	} else {
		r.classic[group] = members
	}
	return nil
}

func (r *fakeRepl) DeleteGroup(group string, epoch, _ uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deletes++
	if err := r.fencedLocked(epoch); err != nil {
		return err
	}
	if r.failDeletes {
		return api.ErrUnavailable.Withf("the deletion was not replicated in time")
	}
	delete(r.stored, group)
	delete(r.saved, group)
	delete(r.classic, group)
	delete(r.active, group)
	return nil
}

func (r *fakeRepl) SaveActive(group string, epoch, _ uint64, at int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fencedLocked(epoch); err != nil {
		return err
	}
	if r.active == nil {
		r.active = map[string]int64{}
	}
	r.active[group] = at // the latest taken, as a shard keeps it
	return nil
}

func (r *fakeRepl) SaveAlive(at int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alive = max(r.alive, at)
	return nil
}

// Holds: this fake holds every partition (a single node's copies).
func (r *fakeRepl) Holds(string, int32) bool { return true }

// ReadPoint runs readPoint, if set: a copy catching up with its leader.
func (r *fakeRepl) ReadPoint(_ context.Context, topic string, partition int32) error {
	r.mu.Lock()
	rp := r.readPoint
	r.mu.Unlock()
	if rp != nil {
		return rp(topic, partition)
	}
	return nil
}

func (r *fakeRepl) Confirm(ctx context.Context, _ string, epoch uint64) error {
	r.mu.Lock()
	confirming := r.confirming
	r.mu.Unlock()
	if confirming != nil {
		confirming()
	}
	if err := ctx.Err(); err != nil {
		return err // as a Raft read's wait would end
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fencedLocked(epoch)
}

// adopt hands the coordinator every group r holds under a new claim.
func (r *fakeRepl) adopt(c *Coordinator, epoch uint64) {
	r.claimEpoch(epoch)
	r.mu.Lock()
	stored := map[string]map[delivery.TP]offsetstore.Offset{}
	for g, parts := range r.stored {
		stored[g] = map[delivery.TP]offsetstore.Offset{}
		for tp, o := range parts {
			stored[g][tp] = o
		}
	}
	saved := maps.Clone(r.saved)
	classic := maps.Clone(r.classic)
	clocks := Clocks{Alive: r.alive, Active: maps.Clone(r.active)}
	r.mu.Unlock()
	c.Adopt(epoch, func(string) bool { return true }, stored, saved, classic, clocks)
	c.syncTopics() // the timer loop's job (resync), which this test does not run
}

// A cluster node's coordinator keeps its groups in Replicated: it forgets
// the groups of its own files, creates none while it holds no epoch,
// writes under the epoch of the group object a command ran on, and a
// group adopted under a new epoch delivers again only what was in flight
// (not acknowledged); the writes of the group object dropped are refused.
func TestReplicatedGroupsFailOver(t *testing.T) {
	c, tb := openTest(t, nil)
	tb.createTopic("t", 1)
	c.syncTopics()
	for range 10 {
		tb.publish("t", 0, []byte("m"))
	}
	join := func(group string) JoinResult {
		t.Helper()
		jr, err := c.JoinGroup(group, JoinParams{Topics: []string{"t"}, SessionTimeout: time.Minute, Assignor: "range"}, "h")
		if err != nil {
			t.Fatal(err)
		}
		return jr
	}
	poll := func(group string, jr JoinResult) []Delivered {
		t.Helper()
		got, err := c.Poll(context.Background(), group, PollParams{MemberID: jr.MemberID, Generation: jr.Generation, MaxMessages: 100}, "h")
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	ack := func(group string, jr JoinResult, from, to int64) error {
		_, err := c.Ack(group, Settle{MemberID: jr.MemberID, Generation: jr.Generation, Ranges: []OffsetRange{{Topic: "t", From: from, To: to}}}, "h")
		return err
	}
	local := join("local") // a group of this node's own files, before clustering
	poll("local", local)

	r := &fakeRepl{stored: map[string]map[delivery.TP]offsetstore.Offset{}, saved: map[string]groupstate.Saved{}}
	c.Replicate(r)
	if _, err := c.GroupOffsets("local"); !errors.Is(err, api.ErrNotCoordinator) {
		t.Fatalf("a group of the local files after Replicate, no group coordinated yet: %v, want NOT_COORDINATOR", err)
	}
	if _, err := c.JoinGroup("g", JoinParams{Topics: []string{"t"}}, "h"); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("join with no epoch: %v, want UNAVAILABLE", err)
	}

	r.adopt(c, 1)
	if _, err := c.GroupOffsets("local"); !errors.Is(err, api.ErrGroupNotFound) {
		t.Fatalf("a group of the local files once coordinating: %v, want GROUP_NOT_FOUND", err)
	}
	jr := join("g")
	if got := poll("g", jr); len(got) != 10 {
		t.Fatalf("first poll: %d messages, want 10", len(got))
	}
	if err := ack("g", jr, 0, 4); err != nil {
		t.Fatal(err)
	}
	if err := ack("g", jr, 6, 7); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	o := r.stored["g"][delivery.TP{Topic: "t"}]
	_, settings := r.saved["g"]
	r.mu.Unlock()
	if o.Committed != 4 || len(o.Acked) != 1 || o.Acked[0] != (delivery.Range{From: 6, To: 7}) || !settings {
		t.Fatalf("replicated after the acks: %+v (settings saved: %v)", o, settings)
	}

	stale, err := c.lookup("g")
	if err != nil {
		t.Fatal(err)
	}
	// Another node claims the shard and the group comes back here under
	// epoch 2: a command still running on the object of epoch 1 writes
	// under epoch 1, and is refused.
	r.adopt(c, 2)
	stale.mu.Lock()
	p := c.doneLocked(stale, stale.a.Tick(c.now()))
	p.writes = append(p.writes, offsetstore.Write{Group: "g", TP: delivery.TP{Topic: "t"}, Offset: offsetstore.Offset{Seq: c.store.Next(), Committed: 10}})
	stale.mu.Unlock()
	if err := c.perform(stale, p); !errors.Is(err, api.ErrNotCoordinator) {
		t.Fatalf("a write of the dropped group object: %v, want it fenced", err)
	}
	if err := ack("g", jr, 4, 6); !errors.Is(err, api.ErrUnknownMember) {
		t.Fatalf("the old member's ack on the adopted group: %v, want UNKNOWN_MEMBER", err)
	}
	jr = join("g")
	var offs []int64
	for _, d := range poll("g", jr) {
		offs = append(offs, d.Record.Offset)
	}
	if want := []int64{4, 5, 7, 8, 9}; !slices.Equal(offs, want) {
		t.Fatalf("delivered after the failover: %v, want %v (in flight, never the acknowledged)", offs, want)
	}
	c.Drop(func(string) bool { return true })
	if _, err := c.GroupOffsets("g"); !errors.Is(err, api.ErrGroupNotFound) {
		t.Fatalf("after Drop: %v", err)
	}
}

// A coordinator deposed without knowing it yet (cut off from the other
// nodes, or paused, while another claimed its groups' shard) still holds
// its groups and their members; its polls hand out nothing, since the
// members of its successor may have acknowledged those messages already.
// It delivered them before.
func TestDeposedCoordinatorDeliversNothing(t *testing.T) {
	f := newAckFixture(t, 4)
	if err := f.ack(0, 2); err != nil {
		t.Fatal(err)
	}
	f.r.claimEpoch(2) // another node's claim; this one has not dropped its groups
	tb := f.c.b.(*testBroker)
	for range 4 {
		tb.publish("t", 0, []byte("m"))
	}
	got, err := f.c.Poll(context.Background(), "g", PollParams{MemberID: f.jr.MemberID, Generation: f.jr.Generation, MaxMessages: 10}, "h")
	if !errors.Is(err, api.ErrNotCoordinator) || len(got) != 0 {
		t.Fatalf("poll of the deposed coordinator: %d messages, %v; want none, NOT_COORDINATOR", len(got), err)
	}
	// Nor does it show its offsets, which its successor may have moved
	// (a chaos run saw one go back by 198 through such a read).
	if offs, err := f.c.GroupOffsets("g"); !errors.Is(err, api.ErrNotCoordinator) {
		t.Fatalf("offsets of the deposed coordinator: %v, %v; want NOT_COORDINATOR", offs, err)
	}
	for _, stable := range []bool{false, true} {
		if got, err := f.c.GroupCommits("g", stable); !errors.Is(err, api.ErrNotCoordinator) {
			t.Fatalf("commits of the deposed coordinator (stable %v): %+v, %v; want NOT_COORDINATOR", stable, got, err)
		}
	}
	// What that poll took is handed back, deliverable at once and no retry
	// spent: a node still coordinating (its confirmation timed out) does
	// not keep it from its members for a visibility timeout.
	if parts, err := f.c.PollStored(context.Background(), "g", PollParams{MemberID: f.jr.MemberID, Generation: f.jr.Generation, MaxMessages: 10}, "h"); !errors.Is(err, api.ErrNotCoordinator) || len(parts) != 0 {
		t.Fatalf("binary poll of the deposed coordinator: %d partitions, %v; want none, NOT_COORDINATOR", len(parts), err)
	}
	// Confirmed again (as if the claim were its own), it delivers them,
	// even if its context ends meanwhile: a stream cancels its poll to ask
	// again with more credit. A first version let that end the
	// confirmation, and the messages the poll took stayed in flight
	// unanswered (the RF3 bench's consume stalled 30 s, a visibility
	// timeout).
	f.r.claimEpoch(1)
	ctx, cancel := context.WithCancel(context.Background())
	f.r.mu.Lock()
	f.r.confirming = cancel
	f.r.mu.Unlock()
	got, err = f.c.Poll(ctx, "g", PollParams{MemberID: f.jr.MemberID, Generation: f.jr.Generation, MaxMessages: 10}, "h")
	var offs []int64
	for _, d := range got {
		offs = append(offs, d.Record.Offset)
	}
	if err != nil || !slices.Equal(offs, []int64{4, 5, 6, 7}) {
		t.Fatalf("poll once confirmed, its context ended meanwhile: offsets %v, %v; want 4-7", offs, err)
	}
	t.Logf("delivery counts after two polls handed back: %d", got[0].DeliveryCount)
}

// ackFixture is a cluster node's coordinator on a fake clock (no timer
// loop: the test ticks) keeping its groups in a fakeRepl, with group g's
// one member holding the first n messages of t/0.
type ackFixture struct {
	clock atomic.Int64
	c     *Coordinator
	r     *fakeRepl
	jr    JoinResult
}

func newAckFixture(t *testing.T, n int) *ackFixture {
	f := &ackFixture{}
	f.clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	c, tb := openTest(t, func() time.Time { return time.Unix(0, f.clock.Load()) })
	tb.createTopic("t", 1)
	c.syncTopics()
	for range n {
		tb.publish("t", 0, []byte("m"))
	}
	f.c = c
	f.r = &fakeRepl{stored: map[string]map[delivery.TP]offsetstore.Offset{}, saved: map[string]groupstate.Saved{}}
	c.Replicate(f.r)
	f.r.adopt(c, 1)
	jr, err := c.JoinGroup("g", JoinParams{Topics: []string{"t"}, SessionTimeout: time.Minute, Assignor: "range"}, "h")
	if err != nil {
		t.Fatal(err)
	}
	f.jr = jr
	if got, err := c.Poll(context.Background(), "g", PollParams{MemberID: jr.MemberID, Generation: jr.Generation, MaxMessages: n}, "h"); err != nil || len(got) != n {
		t.Fatalf("poll: %d messages, %v", len(got), err)
	}
	return f
}

// ack acknowledges t/0's [from, to).
func (f *ackFixture) ack(from, to int64) error {
	_, err := f.c.Ack("g", Settle{MemberID: f.jr.MemberID, Generation: f.jr.Generation, Ranges: []OffsetRange{{Topic: "t", From: from, To: to}}}, "h")
	return err
}

// readOffsets reads group g's committed offsets in a goroutine of its
// own; the pendingRead it returns gets the answer.
func (f *ackFixture) readOffsets() pendingRead {
	r := pendingRead{make(chan readAnswer, 1)}
	go func() {
		offs, err := f.c.GroupOffsets("g")
		r.answer <- readAnswer{offs, err}
	}()
	return r
}

// pendingRead is a read of a group's offsets under way (readOffsets).
type pendingRead struct{ answer chan readAnswer }

type readAnswer struct {
	offs Offsets
	err  error
}

// waiting fails the test if the read has answered: what names the read.
// Call it after synctest.Wait.
func (r pendingRead) waiting(t *testing.T, what string) {
	t.Helper()
	select {
	case a := <-r.answer:
		t.Fatalf("%s answered at once: %v, %v", what, a.offs, a.err)
	default:
	}
}

// unavailable waits for the read's answer and fails the test unless it
// is UNAVAILABLE: what names the read.
func (r pendingRead) unavailable(t *testing.T, what string) {
	t.Helper()
	if a := <-r.answer; !errors.Is(a.err, api.ErrUnavailable) {
		t.Fatalf("%s: %v, %v; want UNAVAILABLE", what, a.offs, a.err)
	}
}

// failWrites has the next n offset writes fail.
func (f *ackFixture) failWrites(n int) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	f.r.fail = n
}

// committed is t/0's committed offset as replicated.
func (f *ackFixture) committed() int64 {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	return f.r.stored["g"][delivery.TP{Topic: "t"}].Committed
}

// An acknowledgement applied in memory whose offset write failed ("applied,
// not durable") is written with the group's next write: its retry, which
// finds the messages settled (NOT_IN_FLIGHT), writes it, and fails as not
// durable while the write still fails; and with no retry, the timer loop
// writes it within rewriteAfter. Before, the retry wrote nothing (the
// partition had not changed) and its NOT_IN_FLIGHT, which clients take as
// success, left the acknowledgement in memory only: a new coordinator (or
// a restart) delivered those messages again.
func TestFailedOffsetWriteIsWrittenAgain(t *testing.T) {
	f := newAckFixture(t, 10)
	f.failWrites(2)
	if err := f.ack(0, 5); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("ack whose write fails: %v, want UNAVAILABLE (applied, not durable)", err)
	}
	if err := f.ack(0, 5); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("its retry while the write still fails: %v, want UNAVAILABLE", err)
	}
	if err := f.ack(0, 5); !errors.Is(err, api.ErrNotInFlight) {
		t.Fatalf("its retry once writes work: %v, want MESSAGE_NOT_IN_FLIGHT", err)
	}
	if got := f.committed(); got != 5 {
		t.Fatalf("after the retry: committed %d, want 5", got)
	}

	f.failWrites(1)
	if err := f.ack(5, 10); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("ack whose write fails: %v, want UNAVAILABLE", err)
	}
	f.clock.Add(int64(rewriteAfter))
	f.c.tick()
	if got := f.committed(); got != 10 {
		t.Fatalf("a tick after rewriteAfter: committed %d, want 10", got)
	}
}

// A retried ack that finds its messages settled answers only once the
// write it depends on is durable, also while another command carries that
// write: here the timer's try, held in the store and then failing. The
// retry answered NOT_IN_FLIGHT at once before, with nothing written (found
// by review of the fix above).
func TestRetriedAckWaitsForARewriteInProgress(t *testing.T) {
	synctest.Test(t, retriedAckWaitsForARewrite)
}

func retriedAckWaitsForARewrite(t *testing.T) {
	f := newAckFixture(t, 5)
	f.failWrites(1)
	if err := f.ack(0, 5); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("ack whose write fails: %v, want UNAVAILABLE", err)
	}

	// The timer's try enters the store and is held there; it will fail.
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.failWrites(1)
	f.r.mu.Lock()
	f.r.gate = func() { once.Do(func() { close(entered); <-release }) }
	f.r.mu.Unlock()
	f.clock.Add(int64(rewriteAfter))
	ticked := make(chan struct{})
	go func() { f.c.tick(); close(ticked) }()
	<-entered

	retried := make(chan error, 1)
	go func() { retried <- f.ack(0, 5) }()
	synctest.Wait() // the retry has answered, or waits
	close(release)
	<-ticked
	if err := <-retried; !errors.Is(err, api.ErrNotInFlight) {
		t.Fatalf("the retry: %v, want MESSAGE_NOT_IN_FLIGHT once written", err)
	}
	if got := f.committed(); got != 5 {
		t.Fatalf("the retry answered with committed %d, want 5", got)
	}
}

// On a cluster node the coordinator's copy of a partition is a follower's
// or a mirror's, behind its leader by what it has not fetched yet. An
// operator's reset reads the partition's bounds from the copy made
// current first (Replicated.ReadPoint): to latest, the group passes every
// message acknowledged before the reset; an offset at the leader's high
// watermark is taken. (Before, on five nodes, a reset to latest just
// after a publish of three messages left the group before them, and an
// offset at the leader's high watermark was refused OFFSET_OUT_OF_RANGE.)
func TestReplicatedResetReadsACurrentCopy(t *testing.T) {
	for _, c := range []struct {
		name string
		req  ResetParams
	}{
		{"latest", ResetParams{To: ResetLatest, Topics: []string{"t"}}},
		{"offsets", ResetParams{To: ResetOffsets, Offsets: Offsets{"t": {0: 5}}}},
		{"shift", ResetParams{To: ResetShift, Topics: []string{"t"}, Shift: 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			co, tb := openTest(t, nil)
			tb.createTopic("t", 1)
			co.syncTopics()
			tb.publish("t", 0, []byte("a"), []byte("b")) // in this copy
			r := &fakeRepl{stored: map[string]map[delivery.TP]offsetstore.Offset{}, saved: map[string]groupstate.Saved{}}
			co.Replicate(r)
			r.adopt(co, 1)
			behind := 3 // acknowledged by the leader, not fetched yet
			r.readPoint = func(topic string, p int32) error {
				for ; behind > 0; behind-- {
					tb.publish(topic, p, []byte("late"))
				}
				return nil
			}
			res, err := co.ResetOffsets("g", c.req)
			if err != nil || res.Offsets["t"][0] != 5 {
				t.Fatalf("reset: %+v, %v; want t/0 at 5, the leader's high watermark", res, err)
			}
			// No copy can be made current (no leader): a reset that
			// reads bounds is refused, a deletion reads none.
			r.readPoint = func(string, int32) error { return api.ErrUnavailable.Withf("no leader") }
			if _, err := co.ResetOffsets("g", ResetParams{To: ResetEarliest, Topics: []string{"t"}}); !errors.Is(err, api.ErrUnavailable) {
				t.Fatalf("reset to earliest with no leader: %v, want UNAVAILABLE", err)
			}
			if res, err := co.ResetOffsets("g", ResetParams{To: ResetDelete, Topics: []string{"t"}}); err != nil || len(res.Offsets["t"]) != 0 {
				t.Fatalf("deletion with no leader: %+v, %v", res, err)
			}
		})
	}
}

// A read of the committed offsets answers only what is written: while an
// ack's write is in the store it waits, and once the write has failed (a
// deposed coordinator's, say) it refuses rather than show an offset the
// group's next coordinator will not have. It answered the ack applied in
// memory at once: a chaos run reading offsets through every node saw
// committed offsets go back, 13 times in 40 faults, as coordinators lost
// the writes of acks they had already shown.
func TestOffsetsReadAsWritten(t *testing.T) {
	synctest.Test(t, offsetsReadAsWritten)
}

func offsetsReadAsWritten(t *testing.T) {
	f := newAckFixture(t, 10)
	if err := f.ack(0, 3); err != nil {
		t.Fatal(err)
	}
	held := func(from, to int64, fail int) (release func()) {
		entered, gate := make(chan struct{}), make(chan struct{})
		var once sync.Once
		f.failWrites(fail)
		f.r.mu.Lock()
		f.r.gate = func() { once.Do(func() { close(entered); <-gate }) }
		f.r.mu.Unlock()
		go f.ack(from, to) //nolint:errcheck // its answer is not what is tested
		<-entered
		return func() { close(gate) }
	}
	// Kafka's OffsetFetch without require_stable answers what is written,
	// at once: it waited, as with require_stable, up to durableReadWait.
	commits := func(step string, want int64) {
		t.Helper()
		if got, err := f.c.GroupCommits("g", false); err != nil || got.Offsets["t"][0] != want || got.Unstable != nil {
			t.Fatalf("%s: GroupCommits, not stable: %+v, %v; want t/0 at %d at once", step, got, err, want)
		}
	}
	release := held(3, 6, 0) // the write of ack(3, 6) is in the store
	read := f.readOffsets()
	synctest.Wait()
	read.waiting(t, "read during the write")
	commits("during the write", 3)
	release()
	if a := <-read.answer; a.err != nil || a.offs["t"][0] != 6 {
		t.Fatalf("read once written: %v, %v; want t/0 at 6", a.offs, a.err)
	}

	release = held(6, 9, 1) // the write of ack(6, 9) is in the store and will fail
	read = f.readOffsets()
	synctest.Wait()
	release()
	read.unavailable(t, "read of a failed write")
	// Kafka's OffsetFetch with require_stable reads the same way, until the
	// write is done again, but for the partition only (Unstable, Kafka's
	// UNSTABLE_OFFSET_COMMIT); without, it answers what is written.
	if got, err := f.c.GroupCommits("g", true); err != nil || !slices.Equal(got.Unstable["t"], []int32{0}) || len(got.Offsets["t"]) != 0 {
		t.Fatalf("GroupCommits while the write is kept unwritten: %+v, %v; want t/0 unstable, no offset", got, err)
	}
	commits("while the write is kept unwritten", 6)
	f.clock.Add(int64(rewriteAfter))
	f.c.tick()
	if got, err := f.c.GroupCommits("g", true); err != nil || got.Offsets["t"][0] != 9 || got.Unstable != nil {
		t.Fatalf("GroupCommits once written again: %+v, %v; want t/0 at 9", got, err)
	}
	commits("once written again", 9)
}
