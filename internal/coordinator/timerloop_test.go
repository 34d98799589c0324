package coordinator

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// A group holding a redelivery that is due but nobody polls costs the timer
// loop nothing until a real deadline: no rescans every few milliseconds.
// Neither does a group whose members are all gone.
func TestTimerLoopIdleWithUnpolledRedelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := newTestBroker(t, time.Now)
		c, stop := runTest(t, testConfig(t, nil), tb)
		defer stop()
		tb.createTopic("t", 1)
		tb.publish("t", 0, []byte("x"))
		for _, g := range []string{"alive", "left"} {
			jr, err := c.JoinGroup(g, JoinParams{MemberID: "m", Topics: []string{"t"}, SessionTimeout: time.Duration(120000) * time.Millisecond, VisibilityTimeout: time.Duration(1000) * time.Millisecond}, "h")
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Poll(context.Background(), g, PollParams{MemberID: "m", Generation: jr.Generation}, "h")
			if err != nil || len(got) != 1 {
				t.Fatalf("poll: %d, %v", len(got), err)
			}
		}
		if err := c.LeaveGroup("left", "m"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // "alive"'s message expired: due again, unpolled
		synctest.Wait()
		before := c.groupTicks.Load()
		time.Sleep(60 * time.Second)
		synctest.Wait()
		if n := c.groupTicks.Load() - before; n > 2 {
			t.Fatalf("the timer loop ticked groups %d times in an idle minute", n)
		}
		// The redelivery is still there for the next poll.
		cg, _ := c.lookup("alive")
		cg.mu.Lock()
		st := cg.a.Stats(delivery.TP{Topic: "t", Partition: 0})
		cg.mu.Unlock()
		if st.Waiting != 1 {
			t.Fatalf("alive's delivery state %+v, want a due redelivery waiting", st)
		}
	})
}

// A long poll waiting on a group that holds an older unpolled redelivery
// still wakes when a nacked message's backoff ends.
func TestPollWakesBehindUnpolledRedelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := newTestBroker(t, time.Now)
		c, stop := runTest(t, testConfig(t, nil), tb)
		defer stop()
		tb.createTopic("t", 2)
		for p := range int32(2) {
			tb.publish("t", p, []byte("x"))
		}
		join := func(m string) JoinResult {
			jr, err := c.JoinGroup("g", JoinParams{MemberID: m, Topics: []string{"t"}, SessionTimeout: time.Duration(120000) * time.Millisecond, VisibilityTimeout: time.Duration(1000) * time.Millisecond}, "h")
			if err != nil {
				t.Fatal(err)
			}
			return jr
		}
		gen := map[string]int64{"a": join("a").Generation, "b": join("b").Generation}
		owned := map[string]Assignment{}
		// Heartbeat until each member owns one partition, in one generation.
		for i := 0; ; i++ {
			if i == 20 {
				t.Fatalf("no stable assignment: %v %v", owned, gen)
			}
			for _, m := range []string{"a", "b"} {
				hr, err := c.Heartbeat("g", HeartbeatParams{MemberID: m, Generation: gen[m], Owned: owned[m]}, "h")
				if err != nil {
					t.Fatal(err)
				}
				gen[m], owned[m] = hr.Generation, hr.Assigned
			}
			if gen["a"] == gen["b"] && len(owned["a"]["t"]) == 1 && len(owned["b"]["t"]) == 1 {
				break
			}
		}
		poll := func(m string, wait int64) []Delivered {
			got, err := c.Poll(context.Background(), "g", PollParams{MemberID: m, Generation: gen[m], Wait: time.Duration(wait) * time.Millisecond}, "h")
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		if ga := poll("a", 0); len(ga) != 1 {
			t.Fatalf("a polled %d", len(ga))
		}
		time.Sleep(2 * time.Second) // a's message expired and is due, unpolled
		gb := poll("b", 0)
		if len(gb) != 1 {
			t.Fatalf("b polled %d", len(gb))
		}
		d := gb[0]
		if _, err := c.Nack("g", NackParams{Delay: 5 * time.Second, Settle: Settle{MemberID: "b", Generation: gen["b"],
			Messages: []MessageRef{{Topic: d.Topic, Partition: d.Partition, Offset: d.Record.Offset}}}}, "h"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got := poll("b", 20000)
		if len(got) != 1 || time.Since(start) > 5100*time.Millisecond {
			t.Fatalf("b's long poll got %d after %v, want the nacked message after 5s", len(got), time.Since(start))
		}
	})
}

// A dead letter whose DLQ write keeps failing is retried with a backoff
// (1 s doubling to 1 min), and logged once per retry, not on every tick.
func TestDeadLetterRetryBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var failures atomic.Int64
		cfg := testConfig(t, nil)
		cfg.Logger = slog.New(countHandler{match: "dead-letter write failed", n: &failures})
		tb := newTestBroker(t, time.Now)
		tb.setFailDLQ(errors.New("the DLQ refuses every dead letter"))
		c, stop := runTest(t, cfg, tb)
		defer stop()
		name := "orders"
		tb.createTopic(name, 1)
		tb.publish(name, 0, []byte("x"))
		jr, err := c.JoinGroup("g", JoinParams{MemberID: "m", Topics: []string{name}, SessionTimeout: time.Duration(300000) * time.Millisecond, MaxRetries: -1}, "h")
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Poll(context.Background(), "g", PollParams{MemberID: "m", Generation: jr.Generation}, "h")
		if err != nil || len(got) != 1 {
			t.Fatalf("poll: %d, %v", len(got), err)
		}
		if _, err := c.Nack("g", NackParams{Reject: true, Settle: Settle{MemberID: "m", Generation: jr.Generation,
			Messages: []MessageRef{{Topic: name, Partition: 0, Offset: 0}}}}, "h"); err != nil {
			t.Fatalf("nack with a failing DLQ write: %v; want success, the dead letter kept pending", err)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		// 1+2+4+8+16+32 s, then every minute: about 15 retries in 10 min.
		if n := failures.Load(); n < 5 || n > 20 {
			t.Fatalf("%d failure logs in 10 minutes", n)
		}
	})
}

// countHandler counts log records whose message contains match.
type countHandler struct {
	match string
	n     *atomic.Int64
}

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.match) {
		h.n.Add(1)
	}
	return nil
}
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }

// A visibility timeout that has passed when some other operation reschedules
// the group (the timer loop was late: a loaded machine) still has the loop
// expire it at its next look. The schedule used to take an overdue expiry
// for a due redelivery, which only a poll takes, and move the group to its
// next session deadline, which the members' heartbeats kept pushing on: the
// messages stayed in flight for as long as the members lived.
func TestOverdueExpirySurvivesReschedule(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	c, tb := openTest(t, now) // no timer loop: the test plays its late wakes
	tb.createTopic("t", 1)
	tb.publish("t", 0, []byte("x"))
	jr, err := c.JoinGroup("g", JoinParams{MemberID: "m", Topics: []string{"t"}, SessionTimeout: time.Duration(1000) * time.Millisecond, VisibilityTimeout: time.Duration(150) * time.Millisecond}, "h")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Poll(context.Background(), "g", PollParams{MemberID: "m", Generation: jr.Generation}, "h")
	if err != nil || len(got) != 1 {
		t.Fatalf("poll: %d, %v", len(got), err)
	}
	// The loop should wake at the visibility deadline but is late by more
	// than a hint's grain; a heartbeat comes first.
	clock.Add(int64(150*time.Millisecond + 30*time.Millisecond)) // three of the hints' 10 ms grain
	if _, err := c.Heartbeat("g", HeartbeatParams{MemberID: "m", Generation: jr.Generation}, "h"); err != nil {
		t.Fatal(err)
	}
	c.tick() // the late wake
	cg, _ := c.lookup("g")
	cg.mu.Lock()
	st := cg.a.Stats(delivery.TP{Topic: "t", Partition: 0})
	cg.mu.Unlock()
	if st.InFlight != 0 || st.Waiting != 1 {
		t.Fatalf("after the late wake: %d in flight, %d waiting; want the expired message waiting", st.InFlight, st.Waiting)
	}
}
