package coordinator

import (
	"bytes"
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// A poll's answer stays within max_bytes (default 4 MiB), and what does not
// fit is not taken: the group holds in flight exactly what was handed out,
// and the next polls hand out the rest, each message once.
func TestPollMaxBytes(t *testing.T) {
	const size = 100 << 10
	for _, tc := range []struct {
		name     string
		n        int
		maxBytes int
		want     int // bytes an answer may carry
	}{
		{"explicit cap", 10, 350 << 10, 350 << 10},
		{"cap below one message", 3, 50 << 10, size},
		{"default cap", 60, 0, DefaultPollBytes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, tb := openTest(t, nil)
			tb.createTopic("big", 1)
			for range tc.n {
				tb.publish("big", 0, bytes.Repeat([]byte("v"), size))
			}
			jr, err := c.JoinGroup("g", JoinParams{MemberID: "m", Topics: []string{"big"}}, "h")
			if err != nil {
				t.Fatal(err)
			}
			seen := make(map[int64]bool)
			for polls := 0; len(seen) < tc.n; polls++ {
				if polls > tc.n {
					t.Fatalf("%d polls handed out %d of %d messages", polls, len(seen), tc.n)
				}
				got, err := c.Poll(context.Background(), "g", PollParams{MemberID: "m", Generation: jr.Generation, MaxMessages: tc.n, MaxBytes: tc.maxBytes}, "h")
				if err != nil {
					t.Fatal(err)
				}
				if len(got) == 0 {
					t.Fatalf("poll %d handed out nothing with %d of %d left", polls, tc.n-len(seen), tc.n)
				}
				total := 0
				for _, d := range got {
					total += len(d.Record.Value)
					if seen[d.Record.Offset] {
						t.Fatalf("offset %d handed out twice", d.Record.Offset)
					}
					seen[d.Record.Offset] = true
				}
				if total > tc.want {
					t.Fatalf("poll %d answered %d bytes (%d messages), cap %d", polls, total, len(got), tc.want)
				}
				cg, _ := c.lookup("g")
				cg.mu.Lock()
				inFlight := cg.a.Stats(delivery.TP{Topic: "big"}).InFlight
				cg.mu.Unlock()
				if inFlight != len(seen) {
					t.Fatalf("after poll %d: %d in flight, %d handed out", polls, inFlight, len(seen))
				}
			}
		})
	}
}

// A negative max_bytes is an INVALID_ARGUMENT naming the field.
func TestPollMaxBytesNegative(t *testing.T) {
	c, tb := openTest(t, nil)
	tb.createTopic("t", 1)
	jr, err := c.JoinGroup("g", JoinParams{MemberID: "m", Topics: []string{"t"}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Poll(context.Background(), "g", PollParams{MemberID: "m", Generation: jr.Generation, MaxBytes: -1}, "h")
	if ae, ok := err.(*api.Error); !ok || ae.Code != api.ErrInvalidArgument.Code {
		t.Fatalf("poll with max bytes -1: %v", err)
	}
}

// The broker does not cap a poll's wait at 30 s: the transport caps it
// with the configured --max-wait, so a wait of 35 s sees a message that
// arrives after 31 s.
func TestPollWaitAboveThirtySeconds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := newTestBroker(t, time.Now)
		c, stop := runTest(t, testConfig(t, nil), tb)
		defer stop()
		tb.createTopic("t", 1)
		jr, err := c.JoinGroup("g", JoinParams{MemberID: "m", Topics: []string{"t"}, SessionTimeout: time.Duration(60000) * time.Millisecond}, "h")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(31 * time.Second)
			tb.publish("t", 0, []byte("late"))
		}()
		start := time.Now()
		got, err := c.Poll(context.Background(), "g", PollParams{MemberID: "m", Generation: jr.Generation, Wait: time.Duration(35000) * time.Millisecond}, "h")
		if err != nil || len(got) != 1 {
			t.Fatalf("poll after %v: %d messages, %v", time.Since(start), len(got), err)
		}
		if d := time.Since(start); d != 31*time.Second {
			t.Fatalf("poll answered after %v, want 31s", d)
		}
	})
}

// A poll that asks for thousands of messages and gets a few has room for
// about what it holds, not for its limit, also when its first round took few
// for want of their sizes (records appended since the group last read the
// partition: at the tail of a busy partition, most polls). Zeroing room for
// 5,000 deliveries on every such poll once tripled the end-to-end latency
// at 20,000 msg/s (p50 0.7 → 2–7 ms).
func TestPollSizesItsAnswerToWhatItHolds(t *testing.T) {
	c, tb := openTest(t, nil)
	tb.createTopic("big", 1)
	jr, err := c.JoinGroup("g", JoinParams{MemberID: "m", Topics: []string{"big"}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	poll := func() []Delivered {
		t.Helper()
		got, err := c.Poll(context.Background(), "g", PollParams{MemberID: "m", Generation: jr.Generation, MaxMessages: 5000}, "h")
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	tb.publish("big", 0, []byte("v"))
	if got := poll(); len(got) != 1 {
		t.Fatalf("first poll: %d messages, want 1", len(got))
	}
	for range 10 { // 6 MB, more than an answer carries, of sizes not read yet
		tb.publish("big", 0, bytes.Repeat([]byte("v"), 600<<10))
	}
	got := poll()
	if len(got) == 0 || cap(got) > 4*len(got) {
		t.Fatalf("a poll of 5,000 answered %d messages with room for %d", len(got), cap(got))
	}
}
