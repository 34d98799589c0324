package coordinator

import (
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// expiryClock is a fake clock for the offsets retention's tests.
type expiryClock struct{ ns atomic.Int64 }

func newExpiryClock() *expiryClock {
	c := &expiryClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *expiryClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *expiryClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// expiryBroker is a fake clock and a broker by it with topic t of one
// partition holding two messages.
func expiryBroker(t *testing.T) (*expiryClock, *testBroker) {
	t.Helper()
	clk := newExpiryClock()
	tb := newTestBroker(t, clk.now)
	tb.createTopic("t", 1)
	tb.publish("t", 0, []byte("a"), []byte("b"))
	return clk, tb
}

// openExpiring opens a coordinator with offsets retention r over tb, on
// clk, with topic t (1 partition, 2 messages) known to its groups.
func openExpiring(t *testing.T, r time.Duration, tb *testBroker, clk *expiryClock) *Coordinator {
	t.Helper()
	cfg := testConfig(t, clk.now)
	cfg.OffsetsRetention = r
	cfg.MaxGroups = 2
	c := mustOpen(t, cfg, tb)
	t.Cleanup(func() { c.Close() })
	c.syncTopics()
	return c
}

// committedAndLeft makes group g commit offset 1 of t/0 and lose its only
// member: an empty group with offsets.
func committedAndLeft(t *testing.T, c *Coordinator, g string) {
	t.Helper()
	jr, err := c.JoinGroup(g, JoinParams{Topics: []string{"t"}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CommitOffsets(g, CommitParams{MemberID: jr.MemberID, Generation: jr.Generation, Offsets: Offsets{"t": {0: 1}}}, "h"); err != nil {
		t.Fatal(err)
	}
	if err := c.LeaveGroup(g, jr.MemberID); err != nil {
		t.Fatal(err)
	}
}

// An empty group with offsets is deleted, as DELETE /groups/{id} deletes
// it, once it has been empty and idle for the offsets retention, and not
// before; a join, commit or reset within the period starts it again; a
// group with members never goes; retention 0 keeps every group. Kept
// for ever, empty groups filled MaxGroups (TOO_MANY_GROUPS) for good.
func TestGroupExpiresAfterOffsetsRetention(t *testing.T) {
	const r = time.Hour
	for _, tc := range []struct {
		name      string
		retention time.Duration
		// meanwhile runs half a retention after the group became empty.
		meanwhile func(t *testing.T, c *Coordinator)
		// expiresAt is how long after the group became empty it goes; 0:
		// never (looked at up to three retentions).
		expiresAt time.Duration
	}{
		{name: "empty", retention: r, expiresAt: r},
		{name: "joined and left meanwhile", retention: r, expiresAt: r + r/2, meanwhile: func(t *testing.T, c *Coordinator) {
			jr, err := c.JoinGroup("g", JoinParams{Topics: []string{"t"}}, "h")
			if err != nil {
				t.Fatal(err)
			}
			if err := c.LeaveGroup("g", jr.MemberID); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "reset meanwhile", retention: r, expiresAt: r + r/2, meanwhile: func(t *testing.T, c *Coordinator) {
			if _, err := c.ResetOffsets("g", ResetParams{To: ResetEarliest}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "kafka commit meanwhile", retention: r, expiresAt: r + r/2, meanwhile: func(t *testing.T, c *Coordinator) {
			if _, err := c.StoreOffsets("g", Offsets{"t": {0: 2}}, nil, false); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "member joined meanwhile", retention: r, meanwhile: func(t *testing.T, c *Coordinator) {
			if _, err := c.JoinGroup("g", JoinParams{Topics: []string{"t"}, SessionTimeout: time.Minute}, "h"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "held by classic Kafka members meanwhile", retention: r, meanwhile: func(t *testing.T, c *Coordinator) {
			if _, err := c.HoldClassicGroup("g"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "reads meanwhile", retention: r, expiresAt: r, meanwhile: func(t *testing.T, c *Coordinator) {
			if _, err := c.DescribeGroup("g"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.GroupOffsets("g"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "retention 0", retention: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk, tb := expiryBroker(t)
			c := openExpiring(t, tc.retention, tb, clk)
			committedAndLeft(t, c, "g")
			committedAndLeft(t, c, "other") // MaxGroups (2) reached
			if _, err := c.JoinGroup("third", JoinParams{Topics: []string{"t"}}, "h"); !errors.Is(err, api.ErrTooManyGroups) {
				t.Fatalf("a third group: %v, want TOO_MANY_GROUPS", err)
			}
			empty := clk.now()
			const step = time.Minute
			for at := step; at <= 3*r; at += step {
				clk.add(step)
				if at == r/2 && tc.meanwhile != nil {
					tc.meanwhile(t, c)
				}
				c.sweep()
				_, err := c.DescribeGroup("g")
				gone := errors.Is(err, api.ErrGroupNotFound)
				if want := tc.expiresAt != 0 && at >= tc.expiresAt; gone != want {
					t.Fatalf("%v after the group became empty: describe %v; want gone %v", clk.now().Sub(empty), err, want)
				}
				if gone {
					break
				}
			}
			if tc.expiresAt == 0 {
				if got := c.Expired(); got != 1 && tc.retention != 0 || got != 0 && tc.retention == 0 {
					t.Fatalf("expired %d groups", got)
				}
				return
			}
			// Gone as a DELETE makes it go: from the listing, the store
			// and MaxGroups, and a group of its name starts afresh.
			for _, d := range c.Groups() {
				if d.ID == "g" {
					t.Fatalf("GET /groups still lists the expired group")
				}
			}
			stored, err := c.store.Load()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := stored["g"]; ok {
				t.Fatalf("offsets.db still holds the expired group: %v", stored["g"])
			}
			if _, err := c.JoinGroup("third", JoinParams{Topics: []string{"t"}}, "h"); err != nil {
				t.Fatalf("a new group after the expiry: %v", err)
			}
			if c.Expired() < 1 {
				t.Fatalf("Expired() = %d", c.Expired())
			}
		})
	}
}

// A group's clock outlives a restart, and a move to another coordinator,
// without the time the group had none: a group empty for half the
// retention when its broker stopped goes half a retention after the
// broker starts again, however long it was down: not the moment it
// starts (the downtime counted), nor a full retention later (the clock
// reset, which kept the groups of a broker restarted more often than the
// retention for ever). A group whose clock was never kept (no sweep
// since it was made), or that had a member when the broker stopped, gets
// a full retention; a run with the retention off (0) keeps the clocks
// too, so a use then counts when the retention is back.
func TestGroupExpiryClockOutlivesRestart(t *testing.T) {
	const r = time.Hour
	slack := clockSlack(r)
	for _, tc := range []struct {
		name    string
		cluster bool
		swept   bool // sweeps kept the clocks before the stop
		member  bool // a member joined before the last sweep and the stop
		off     bool // then a run with the retention off: a use, ten minutes idle
		left    time.Duration
	}{
		{name: "restart", swept: true, left: r / 2},
		{name: "restart before any sweep", left: r},
		{name: "another coordinator adopts", cluster: true, swept: true, left: r / 2},
		{name: "restart with a member in", swept: true, member: true, left: r},
		{name: "adopted with a member in", cluster: true, swept: true, member: true, left: r},
		{name: "used while the retention was off", swept: true, off: true, left: r - 10*time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk, tb := expiryBroker(t)
			cfg := testConfig(t, clk.now)
			repl := &fakeRepl{stored: map[string]map[delivery.TP]offsetstore.Offset{}, saved: map[string]groupstate.Saved{}}
			epoch := uint64(0)
			open := func(retention time.Duration) *Coordinator {
				cfg.OffsetsRetention = retention
				c := mustOpen(t, cfg, tb)
				if tc.cluster {
					epoch++
					c.Replicate(repl)
					repl.adopt(c, epoch)
				}
				c.syncTopics()
				return c
			}
			stop := func(c *Coordinator) {
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				clk.add(10 * r) // no coordinator for ten retentions
			}
			c := open(r)
			committedAndLeft(t, c, "g")
			if tc.swept {
				for range 15 { // half the retention, swept every two minutes
					clk.add(2 * time.Minute)
					if n := c.sweep(); n != 0 {
						t.Fatalf("expired %d groups within the retention", n)
					}
				}
			} else {
				clk.add(r / 2)
			}
			if tc.member {
				if _, err := c.JoinGroup("g", JoinParams{Topics: []string{"t"}}, "h"); err != nil {
					t.Fatal(err)
				}
				clk.add(time.Minute)
				c.sweep()
			}
			stop(c)
			if tc.off {
				c = open(0)
				jr, err := c.JoinGroup("g", JoinParams{Topics: []string{"t"}}, "h")
				if err != nil {
					t.Fatal(err)
				}
				if err := c.LeaveGroup("g", jr.MemberID); err != nil {
					t.Fatal(err)
				}
				for range 5 {
					clk.add(2 * time.Minute)
					c.sweep()
				}
				stop(c)
			}
			c = open(r)
			defer c.Close()
			start := clk.now()
			if n := c.sweep(); n != 0 {
				t.Fatalf("expired %d groups at start", n)
			}
			for {
				clk.add(time.Minute)
				n := c.sweep()
				up := clk.now().Sub(start)
				if n == 1 {
					if up < tc.left {
						t.Fatalf("expired %v after the start, want at least %v", up, tc.left)
					}
					return
				}
				if up > tc.left+2*slack {
					t.Fatalf("not expired %v after the start, want at most %v", up, tc.left+2*slack)
				}
			}
		})
	}
}

// The coordinator's Run sweeps the groups by itself, and its sweep stops
// with it (goleak checks every test).
func TestRunExpiresIdleGroups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const r = time.Hour
		tb := newTestBroker(t, time.Now)
		tb.createTopic("t", 1)
		tb.publish("t", 0, []byte("a"), []byte("b"))
		cfg := testConfig(t, nil)
		cfg.OffsetsRetention = r
		cfg.FsyncInterval = time.Minute // fewer checkpoints to run through
		c, stop := runTest(t, cfg, tb)
		defer stop()
		synctest.Wait()
		committedAndLeft(t, c, "g")
		time.Sleep(r - time.Second)
		synctest.Wait()
		if _, err := c.DescribeGroup("g"); err != nil {
			t.Fatalf("before the retention: %v", err)
		}
		time.Sleep(time.Second + expiryCheck(r))
		synctest.Wait()
		if _, err := c.DescribeGroup("g"); !errors.Is(err, api.ErrGroupNotFound) {
			t.Fatalf("a retention and a check after: %v, want GROUP_NOT_FOUND", err)
		}
	})
}

// GET /groups/{g} tells when an empty group goes (ExpiresAt): a
// retention after its last use; nothing while it has members or with no
// retention.
func TestDescribeShowsExpiry(t *testing.T) {
	const r = time.Hour
	for _, tc := range []struct {
		name      string
		retention time.Duration
		member    bool
		want      time.Duration // after the last use; 0: none
	}{
		{name: "empty", retention: r, want: r},
		{name: "with a member", retention: r, member: true},
		{name: "no retention", retention: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk, tb := expiryBroker(t)
			c := openExpiring(t, tc.retention, tb, clk)
			committedAndLeft(t, c, "g")
			used := clk.now()
			if tc.member {
				if _, err := c.JoinGroup("g", JoinParams{Topics: []string{"t"}}, "h"); err != nil {
					t.Fatal(err)
				}
			}
			clk.add(time.Minute)
			d, err := c.DescribeGroup("g")
			if err != nil {
				t.Fatal(err)
			}
			want := time.Time{}
			if tc.want != 0 {
				want = used.Add(tc.want)
			}
			if !d.ExpiresAt.Equal(want) {
				t.Fatalf("ExpiresAt %v, want %v", d.ExpiresAt, want)
			}
		})
	}
}

// A commit without member (a Kafka client's OffsetCommit with no
// generation, an operator's reset naming its topics) that finds the
// empty group and meets its deletion (the retention's, or a DELETE)
// before it stores creates the group again, as it would have a moment
// later, rather than failing GROUP_NOT_FOUND (GROUP_ID_NOT_FOUND to a
// Kafka client, which does not retry it).
func TestCommitRacingTheGroupsDeletion(t *testing.T) {
	const r = time.Hour
	for _, tc := range []struct {
		name   string
		delete func(c *Coordinator)
		commit func(c *Coordinator) error
	}{
		{"expiry, kafka commit", func(c *Coordinator) { c.sweep() }, func(c *Coordinator) error {
			_, err := c.StoreOffsets("g", Offsets{"t": {0: 2}}, nil, false)
			return err
		}},
		{"DELETE, reset", func(c *Coordinator) { c.DeleteGroup("g") }, func(c *Coordinator) error {
			_, err := c.ResetOffsets("g", ResetParams{To: ResetOffsets, Offsets: Offsets{"t": {0: 2}}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk, tb := expiryBroker(t)
			c := openExpiring(t, r, tb, clk)
			committedAndLeft(t, c, "g")
			clk.add(r)
			tb.mu.Lock()
			tb.onPartition = func() { tc.delete(c) } // once the commit has found the group
			tb.mu.Unlock()
			if err := tc.commit(c); err != nil {
				t.Fatalf("a commit racing the group's deletion: %v", err)
			}
			offs, err := c.GroupOffsets("g")
			if err != nil || offs["t"][0] != 2 {
				t.Fatalf("the group after the commit: %v, %v; want t/0 at 2", offs, err)
			}
		})
	}
}

// On a cluster node an expired group goes through the replicated
// deletion; one the shard does not take ends the sweep (each try waits
// its timeout with the coordinator's lock held), and the group stays
// until a later sweep's deletion is taken.
func TestExpiryStopsAtAFailedDeletion(t *testing.T) {
	const r = time.Hour
	clk, tb := expiryBroker(t)
	c := openExpiring(t, r, tb, clk)
	repl := &fakeRepl{stored: map[string]map[delivery.TP]offsetstore.Offset{}, saved: map[string]groupstate.Saved{}}
	c.Replicate(repl)
	repl.adopt(c, 1)
	committedAndLeft(t, c, "g")
	committedAndLeft(t, c, "h")
	clk.add(r)
	repl.mu.Lock()
	repl.failDeletes = true
	repl.mu.Unlock()
	if n := c.sweep(); n != 0 {
		t.Fatalf("a sweep whose deletions fail expired %d groups", n)
	}
	repl.mu.Lock()
	tries := repl.deletes
	repl.failDeletes = false
	repl.mu.Unlock()
	if tries != 1 {
		t.Fatalf("a sweep tried %d deletions after the first failed, want 1", tries)
	}
	if len(c.Groups()) != 2 {
		t.Fatalf("%d groups after failed deletions, want both kept", len(c.Groups()))
	}
	if n := c.sweep(); n != 2 {
		t.Fatalf("the next sweep expired %d groups, want 2", n)
	}
	repl.mu.Lock()
	defer repl.mu.Unlock()
	if len(repl.stored) != 0 {
		t.Fatalf("the replicated state still holds %v", repl.stored)
	}
}
