package client

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// settleFrames is a stream connection that counts the frames the client
// writes, by type (the client writes each frame with one Write).
type settleFrames struct {
	net.Conn
	mu     *sync.Mutex
	counts map[api.StreamType]int
}

func (c *settleFrames) Write(b []byte) (int, error) {
	if len(b) >= api.StreamHeaderLen {
		c.mu.Lock()
		c.counts[api.StreamType(b[4])]++
		c.mu.Unlock()
	}
	return c.Conn.Write(b)
}

// A member polling one message at a time on the stream sends its
// acknowledgements at most every ackLinger (a Poll's flush holds them back
// until then), and a PING to confirm them at most every ackLinger (the
// background goroutine's) or confirmEvery (a Poll's), not an ACK frame and
// a PING with every Poll: each was a write, a read and a PONG on the
// broker, which put the tail of delivery latency behind them. Every
// acknowledgement still reaches the broker: the Commit after applies them
// all.
func TestStreamPollsDoNotSettleOneByOne(t *testing.T) {
	const n = 200
	var mu sync.Mutex
	counts := map[api.StreamType]int{}
	c, cons, got := groupConsumer(t, n, 1, ConsumerConfig{}, func(conn net.Conn) net.Conn {
		return &settleFrames{Conn: conn, mu: &mu, counts: counts}
	})
	if cons.liveStream() == nil {
		t.Fatal("the messages did not come on the stream")
	}
	mu.Lock()
	clear(counts)
	mu.Unlock()
	// One message per Poll, acknowledged before the next Poll, as a member
	// processing one at a time does: the rest come on the stream meanwhile.
	start := time.Now()
	for polls := 0; len(got) < n; polls++ {
		if polls > 10*n {
			t.Fatalf("%d Polls took %d messages of %d", polls, len(got), n)
		}
		ackAll(t, cons, got[len(got)-1:])
		msgs, err := cons.Poll(t.Context(), 1)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, msgs...)
	}
	ackAll(t, cons, got[len(got)-1:])
	elapsed := time.Since(start)
	mu.Lock()
	acks, pings := counts[api.StreamAck], counts[api.StreamPing]
	mu.Unlock()
	// One each per ackLinger, and an ACK frame per ackBatch acknowledgements.
	pingBound := 2 + int(elapsed/ackLinger)
	ackBound := pingBound + n/cons.ackBatch()
	t.Logf("%d Polls in %v: %d ACK frames (at most %d), %d PINGs (at most %d)", n, elapsed, acks, ackBound, pings, pingBound)
	if acks > ackBound || pings > pingBound {
		t.Errorf("%d Polls sent %d ACK frames and %d PINGs in %v: more than one each per %v (and an ACK frame per %d acknowledgements)",
			n, acks, pings, elapsed, ackLinger, cons.ackBatch())
	}
	if err := cons.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	wantCommitted(t, c, n)
}
