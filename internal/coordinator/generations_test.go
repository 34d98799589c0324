package coordinator

import (
	"errors"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// A group's generations never go back when its coordinator moves: the
// next node starts it past the ceiling the last one reserved (it hands
// out none above it: it reserves a block more before it answers one), so
// a member joining it again with the member ID it had gets a generation
// none of its earlier incarnations held, and a commit, ack or heartbeat
// still carrying one of theirs is refused. The next node started the
// group at generation 0 (its own history knows nothing of the group), and
// took them as the member's.
func TestReplicatedGenerationsNeverGoBack(t *testing.T) {
	r := &fakeRepl{stored: map[string]map[delivery.TP]offsetstore.Offset{}, saved: map[string]groupstate.Saved{}}
	coordinator := func() *Coordinator {
		c, tb := openTest(t, nil)
		tb.createTopic("t", 1)
		tb.publish("t", 0, []byte("m"))
		c.syncTopics()
		c.Replicate(r)
		return c
	}
	join := func(c *Coordinator) (JoinResult, error) {
		return c.JoinGroup("g", JoinParams{MemberID: "x", Topics: []string{"t"}, SessionTimeout: time.Minute}, "h")
	}
	// rejoin joins x again, n times (each a new incarnation: a new
	// generation), checking that none is answered above the ceiling
	// reserved, and returns the last answer and error.
	rejoin := func(c *Coordinator, n int) (JoinResult, error) {
		t.Helper()
		var (
			jr  JoinResult
			err error
		)
		for range n {
			if jr, err = join(c); err != nil {
				return jr, err
			}
			if _, ceiling := r.Generations("g"); jr.Generation > ceiling {
				t.Fatalf("generation %d answered above the ceiling reserved, %d", jr.Generation, ceiling)
			}
		}
		return jr, nil
	}

	a := coordinator()
	r.adopt(a, 1) // generations 1..fakeBlock reserved by the claim
	old, err := rejoin(a, 3*fakeBlock)
	if err != nil {
		t.Fatal(err)
	}
	if r.reserved != 2 {
		t.Fatalf("%d reservations for %d generations in blocks of %d past the claim's, want 2", r.reserved, old.Generation, fakeBlock)
	}

	b := coordinator() // the next node: none of a's state, nor its history
	r.adopt(b, 2)
	cur, err := rejoin(b, 1)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Generation <= old.Generation {
		t.Fatalf("member x: generation %d on the next coordinator, %d on the last: want it past", cur.Generation, old.Generation)
	}
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"commit", func() error {
			return b.CommitOffsets("g", CommitParams{MemberID: "x", Generation: old.Generation, Offsets: Offsets{"t": {0: 1}}}, "h")
		}},
		{"ack", func() error {
			_, err := b.Ack("g", Settle{MemberID: "x", Generation: old.Generation, Ranges: []OffsetRange{{Topic: "t", From: 0, To: 1}}}, "h")
			return err
		}},
		{"heartbeat", func() error {
			_, err := b.Heartbeat("g", HeartbeatParams{MemberID: "x", Generation: old.Generation, Owned: Assignment{}}, "h")
			return err
		}},
	} {
		if err := c.call(); !errors.Is(err, api.ErrStaleGeneration) && !errors.Is(err, api.ErrFencedMember) {
			t.Errorf("%s with generation %d of the last coordinator: %v, want STALE_GENERATION or FENCED_MEMBER", c.name, old.Generation, err)
		}
	}

	// Deposed without knowing it (another node claimed), b cannot
	// reserve: the join that needs it is refused, not answered with a
	// generation the next coordinator may hand out again.
	r.claimEpoch(3)
	_, err = rejoin(b, fakeBlock)
	if !errors.Is(err, api.ErrNotCoordinator) {
		t.Fatalf("join past the ceiling once deposed: %v, want NOT_COORDINATOR", err)
	}
}

// A command that answers no generation (a leave here; a poll, an ack, the
// timer loop alike) reserves past the ceiling too, so a generation its
// group reached is reserved before any member is told it; a join after it
// needs no reservation of its own.
func TestReplicatedGenerationsReservedAside(t *testing.T) {
	r := &fakeRepl{stored: map[string]map[delivery.TP]offsetstore.Offset{}, saved: map[string]groupstate.Saved{}}
	c, tb := openTest(t, nil)
	tb.createTopic("t", 1)
	c.syncTopics()
	c.Replicate(r)
	r.adopt(c, 1) // generations up to fakeBlock
	join := func(id string) JoinResult {
		t.Helper()
		jr, err := c.JoinGroup("g", JoinParams{MemberID: id, Topics: []string{"t"}, SessionTimeout: time.Minute}, "h")
		if err != nil {
			t.Fatal(err)
		}
		return jr
	}
	for jr := join("x"); jr.Generation < fakeBlock; jr = join("x") {
	}
	join("y") // past the ceiling: reserved before its answer
	if r.reserved != 1 {
		t.Fatalf("%d reservations, want 1", r.reserved)
	}
	_, ceiling := r.Generations("g")
	for {
		d, err := c.DescribeGroup("g")
		if err != nil {
			t.Fatal(err)
		}
		if d.Generation == ceiling {
			break
		}
		join("y")
	}
	if err := c.LeaveGroup("g", "y"); err != nil {
		t.Fatal(err)
	}
	if r.reserved != 2 {
		t.Fatalf("%d reservations after a leave past the ceiling, want 2", r.reserved)
	}
	if jr := join("z"); r.reserved != 2 {
		t.Fatalf("join at generation %d reserved again: %d reservations, want 2", jr.Generation, r.reserved)
	}
}
