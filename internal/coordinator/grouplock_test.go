package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// lockCheckIO is the coordinator's groupIO, checking before every call
// that no group's lock is held: the coordinator must perform a command's
// effects (record reads, DLQ writes, offset and settings writes) after
// releasing the group's lock. The test runs without the timer loop, so
// that the only goroutine taking group locks is the test's: a lock found
// held is held by the caller.
type lockCheckIO struct {
	c     *Coordinator
	inner groupIO
	fail  atomic.Int32 // dead-letter writes still to fail

	mu     sync.Mutex
	groups map[string]*cgroup // every group seen, also deleted ones
	calls  map[string]int
	bad    []string
}

func (io *lockCheckIO) check(call string) {
	io.mu.Lock()
	defer io.mu.Unlock()
	if io.c.mu.TryLock() { // DeleteGroup holds it (not a group lock) around its I/O
		for id, cg := range io.c.groups {
			io.groups[id] = cg
		}
		io.c.mu.Unlock()
	}
	io.calls[call]++
	for id, cg := range io.groups {
		if !cg.mu.TryLock() {
			io.bad = append(io.bad, fmt.Sprintf("%s with the lock of group %q held", call, id))
			continue
		}
		cg.mu.Unlock()
	}
}

func (io *lockCheckIO) batch(ra *readAhead, tp delivery.TP, off int64, n, maxBytes int) (*storedBatch, bool) {
	io.check("record")
	return io.inner.batch(ra, tp, off, n, maxBytes)
}

func (io *lockCheckIO) writeDeadLetter(group string, dl groupstate.DeadLetter) error {
	io.check("writeDeadLetter")
	if io.fail.Add(-1) >= 0 {
		return errors.New("the DLQ is down")
	}
	return io.inner.writeDeadLetter(group, dl)
}

func (io *lockCheckIO) writeOffsets(g groupKey, ws []offsetstore.Write) error {
	io.check("writeOffsets")
	return io.inner.writeOffsets(g, ws)
}

func (io *lockCheckIO) saveSettings(g groupKey, s groupstate.Saved) error {
	io.check("saveSettings")
	return io.inner.saveSettings(g, s)
}

func (io *lockCheckIO) deleteGroup(g groupKey) error {
	io.check("deleteGroup")
	return io.inner.deleteGroup(g)
}

func (io *lockCheckIO) saveClocks(alive int64, marks []activeMark) ([]bool, error) {
	io.check("saveClocks")
	return io.inner.saveClocks(alive, marks)
}

func (io *lockCheckIO) timestamp(tp delivery.TP, l *commitlog.Log, off int64) (int64, bool) {
	io.check("timestamp")
	return io.inner.timestamp(tp, l, off)
}

// No disk I/O happens under a group's lock: joins, polls, acks, nacks to
// the DLQ (creating it), failed DLQ writes and their retries, expiries,
// commits, stats, topic changes, resets and deletion all reach the logs,
// the DLQ and the stores through groupIO only with every group lock free.
func TestNoIOUnderGroupLock(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	c, tb := openTest(t, now) // no timer loop: the test ticks
	io := &lockCheckIO{c: c, inner: c.io, groups: map[string]*cgroup{}, calls: map[string]int{}}
	c.io = io
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"t", "u"} {
		tb.createTopic(name, 1)
		tb.publish(name, 0, []byte("a"), []byte("b"), []byte("c"), []byte("d"))
	}
	c.syncTopics()
	jr, err := c.JoinGroup("g", JoinParams{MemberID: "m", Topics: []string{"t", "u"}, MaxRetries: -1, VisibilityTimeout: time.Second}, "h")
	must(err)
	got, err := c.Poll(context.Background(), "g", PollParams{MemberID: "m", Generation: jr.Generation, MaxMessages: 6}, "h")
	must(err)
	if len(got) != 6 {
		t.Fatalf("polled %d messages, want 6", len(got))
	}
	ref := func(topic string, off int64) Settle {
		return Settle{MemberID: "m", Generation: jr.Generation, Messages: []MessageRef{{Topic: topic, Partition: 0, Offset: off}}}
	}
	reject := func(r Settle) NackParams { return NackParams{Settle: r, Reject: true} }
	_, err = c.Ack("g", ref("t", 0), "h")
	must(err)
	_, err = c.Nack("g", reject(ref("t", 1)), "h") // writes to t.dlq
	must(err)
	io.fail.Store(1)
	_, err = c.Nack("g", reject(ref("u", 0)), "h") // fails, kept pending
	must(err)
	must(c.CommitOffsets("g", CommitParams{MemberID: "m", Generation: jr.Generation, Offsets: Offsets{"u": {0: 1}}}, "h"))
	_, err = c.Extend("g", ExtendParams{Settle: ref("t", 2), Visibility: time.Hour}, "h")
	must(err)
	advance(2 * time.Second) // u/1 expires: dead (no retries); the failed write's retry is due
	c.tick()
	_ = c.GroupStats()
	_, err = c.DescribeGroup("g")
	must(err)
	tb.deleteTopic("u")
	c.syncTopics()
	must(c.LeaveGroup("g", "m"))
	_, err = c.ResetOffsets("g", ResetParams{To: ResetEarliest, Topics: []string{"t"}})
	must(err)
	must(c.DeleteGroup("g"))

	io.mu.Lock()
	defer io.mu.Unlock()
	for _, v := range io.bad {
		t.Error(v)
	}
	var missing []string
	for _, call := range []string{"record", "writeDeadLetter", "writeOffsets", "saveSettings", "deleteGroup", "timestamp"} {
		if io.calls[call] == 0 {
			missing = append(missing, call)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the scenario never called %v: it proves nothing of them", missing)
	}
	if io.calls["writeDeadLetter"] < 4 {
		t.Errorf("%d dead-letter writes, want 4 (two nacks, a retry, an expiry)", io.calls["writeDeadLetter"])
	}
	if n := len(tb.deadLetters()); n != 3 {
		t.Errorf("%d dead letters reached the DLQ, want 3 (all but the failed write)", n)
	}
	// The check itself finds a lock held.
	cg := io.groups["g"]
	cg.mu.Lock()
	io.bad = nil
	io.mu.Unlock()
	io.check("probe")
	io.mu.Lock()
	cg.mu.Unlock()
	if len(io.bad) != 1 {
		t.Errorf("a call made under the group's lock was reported %d times, want once", len(io.bad))
	}
}
