package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
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
	c, cons, got := groupConsumer(t, n, 1, ConsumerConfig{MaxInFlight: 1000}, func(conn net.Conn) net.Conn {
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
	cons.mu.Lock()
	batch := cons.ackBatch()
	cons.mu.Unlock()
	ackBound := pingBound + n/batch
	t.Logf("%d Polls in %v: %d ACK frames (at most %d), %d PINGs (at most %d)", n, elapsed, acks, ackBound, pings, pingBound)
	if acks > ackBound || pings > pingBound {
		t.Errorf("%d Polls sent %d ACK frames and %d PINGs in %v: more than one each per %v (and an ACK frame per %d acknowledgements)",
			n, acks, pings, elapsed, ackLinger, batch)
	}
	if err := cons.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	wantCommitted(t, c, n)
}

// An acknowledgement a Poll's flush holds back (ackLinger after the last
// were sent) is sent by the background goroutine once ackLinger has
// passed, though no Poll follows. Nothing woke it for them before: they
// waited for the next Poll, which a member whose topic went quiet makes
// only after PollWait, or for the next heartbeat, seconds away.
func TestStreamAckHeldBackByPollIsSentWithoutAnotherPoll(t *testing.T) {
	const n = 2
	c, cons, got := groupConsumer(t, n, n, ConsumerConfig{MaxInFlight: 1000}, nil) // ackBatch 125
	st := cons.liveStream()
	if st == nil {
		t.Fatal("the messages did not come on the stream")
	}
	st.mu.Lock()
	st.ackAt = time.Now() // as if some had just been sent: the Poll below holds these back
	st.mu.Unlock()
	ackAll(t, cons, got)
	if _, err := cons.Poll(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, time.Second, func() bool {
		off, err := c.GroupOffsets(t.Context(), "g")
		return err == nil && off["t"][0] == n
	}, "the broker to have the %d acknowledgements held back by a Poll, with no Poll after", n)
}

// A member at its in-flight cap that acknowledges a message and polls
// for the next gets it once the acknowledgement reaches the broker, which
// frees the cap: within about ackLinger, though the Poll's flush held it
// back. The Poll waited its whole PollWait before, with the acknowledgement
// unsent and the broker holding the next message back for it.
func TestStreamAckHeldBackAtTheInFlightCapDoesNotStall(t *testing.T) {
	const limit = 16 // ackBatch 2: one acknowledgement is held back
	_, cons, got := groupConsumer(t, limit+1, limit, ConsumerConfig{MaxInFlight: limit, PollWait: 5 * time.Second}, nil)
	st := cons.liveStream()
	if st == nil {
		t.Fatal("the messages did not come on the stream")
	}
	st.mu.Lock()
	st.ackAt = time.Now() // as if some had just been sent: the Poll below holds this one back
	st.mu.Unlock()
	ackAll(t, cons, got[:1])
	start := time.Now()
	msgs, err := cons.Poll(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); len(msgs) != 1 || elapsed > time.Second {
		t.Fatalf("Poll at the in-flight cap of %d, one message acknowledged: %d messages in %v, want the next within 1 s", limit, len(msgs), elapsed)
	}
}

// A settle frame a Poll's flush sends without a PING (one went less than
// confirmEvery before) is confirmed by the background goroutine's PING,
// though no Poll follows. It stayed unconfirmed until the next heartbeat
// before, seconds away: a NACK frame so, should the stream fail meanwhile,
// is sent again over HTTP, and may hand back the message's redelivery.
func TestStreamFrameSentWithoutPingIsConfirmed(t *testing.T) {
	_, cons, got := streamConsumer(t, 1, nil)
	st := cons.liveStream()
	st.mu.Lock()
	st.pingAt = time.Now() // as if one had just gone: the Poll below sends no PING
	st.mu.Unlock()
	if err := cons.NackWith(got[0], NackOptions{Requeue: true, Delay: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Poll(t.Context(), 1); err != nil { // sends the NACK frame
		t.Fatal(err)
	}
	testkit.Eventually(t, time.Second, func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.sent) == 0
	}, "the NACK frame a Poll sent without a PING to be confirmed, with no Poll after")
}

// A settle frame a Poll's flush sends while an earlier PING is out, and
// so without one of its own, is confirmed by the background goroutine's
// PING once that PING's PONG came, though no Poll follows. It stayed
// unconfirmed until the next heartbeat before.
func TestStreamFrameSentBehindAPingIsConfirmed(t *testing.T) {
	_, cons, got := streamConsumer(t, 1, nil)
	st := cons.liveStream()
	ping := st.ids.Add(1) // a Poll's PING, written below: out, its PONG not yet come
	st.mu.Lock()
	st.pingOut, st.pingAt = ping, time.Now()
	st.mu.Unlock()
	if err := cons.NackWith(got[0], NackOptions{Requeue: true, Delay: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Poll(t.Context(), 1); err != nil { // sends the NACK frame, and no PING
		t.Fatal(err)
	}
	if err := st.w.Write(api.StreamPing, ping); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, time.Second, func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.sent) == 0
	}, "the NACK frame sent behind a PING to be confirmed, with no Poll after")
}

// ackRefuser is a client transport that, once armed, answers every ack
// request INTERNAL (a retriable refusal, answered at once) and counts
// them.
type ackRefuser struct {
	armed *atomic.Bool
	acks  *atomic.Int64
	next  http.RoundTripper
}

func (r ackRefuser) RoundTrip(req *http.Request) (*http.Response, error) {
	if !r.armed.Load() || !strings.HasSuffix(req.URL.Path, "/ack") {
		return r.next.RoundTrip(req)
	}
	if req.Body != nil {
		req.Body.Close()
	}
	r.acks.Add(1)
	body, _ := json.Marshal(api.ErrorBody{Error: api.ErrInternal.Withf("offsets not written")})
	return &http.Response{StatusCode: http.StatusInternalServerError, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(body)), Request: req}, nil
}

// Acknowledgements queued after the stream failed go over HTTP, and one
// refused is sent again at the background goroutine's next round, as
// before the stream held acknowledgements back. It was sent again at once,
// over and over, with nothing else to wait for: the failed stream, still
// the consumer's until the next Poll, said they were due ackLinger after
// its last frames went, long past.
func TestAcksRefusedAfterTheStreamFailedAreNotResentAtOnce(t *testing.T) {
	const n = 3
	var armed atomic.Bool
	var acks atomic.Int64
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	_, cons, got := groupConsumer(t, n, n, ConsumerConfig{HTTPClient: &http.Client{Transport: ackRefuser{&armed, &acks, tr}}}, nil)
	st := cons.liveStream()
	if st == nil {
		t.Fatal("the messages did not come on the stream")
	}
	st.conn.Close()
	<-st.done
	armed.Store(true)
	ackAll(t, cons, got)
	cons.heartbeatNow() // the background goroutine's round: it flushes after the heartbeat
	testkit.Eventually(t, 10*time.Second, func() bool { return acks.Load() > 0 }, "an ack request after the heartbeat")
	time.Sleep(200 * time.Millisecond)
	if a := acks.Load(); a > 3 {
		t.Fatalf("%d ack requests in 200 ms, each refused at once: sent again without a pause", a)
	}
}

// A Poll's flush holds acknowledgements back only for a member that knows
// its in-flight cap — named it, or was told it by its join's answer — and
// fewer than an eighth of it: the broker's --max-in-flight, or the
// group's creator, sets the cap, as small as 1, and the broker delivers
// nothing more to a member at its cap until the acknowledgements come.
// Held back under a guessed cap, a member of a broker whose cap was 1
// took 2.25 ms a message (450 ms for 200, against 12 ms before
// acknowledgements were held back), and of one whose cap was 16, 114 ms
// for 800 (5 ms): each refill waited for ackLinger.
func TestAcksHeldBackOnlyUnderAKnownCap(t *testing.T) {
	for _, tc := range []struct {
		named, told, acked int // the member's MaxInFlight, its join's answer's
		want               bool
	}{
		{0, 0, 1, true}, // an older broker told none: the cap is unknown
		{1, 0, 1, true},
		{16, 0, 1, false},
		{16, 0, 2, true},
		{1000, 0, 124, false},
		{1000, 0, 125, true},
		{0, 1, 1, true},
		{0, 16, 1, false},
		{0, 16, 2, true},
		{0, 1000, 124, false},
	} {
		c := &Consumer{cfg: ConsumerConfig{MaxInFlight: tc.named}, state: newMemberState()}
		c.state.ackedN, c.state.maxInFlight = tc.acked, tc.told
		now := time.Now()
		st := &consumerStream{ackAt: now} // the last went just now
		if got := c.settleDueLocked(st, false, now); got != tc.want {
			t.Errorf("MaxInFlight %d, told %d, %d acknowledgements queued: sent %v, want %v", tc.named, tc.told, tc.acked, got, tc.want)
		}
	}
}

// A nack's Reason is a uint16-length string in a NACK frame: one of 64
// KiB or more was written with its length wrapped, a frame the broker
// refused as malformed (BAD_REQUEST), and the nack was dropped: a message
// rejected so was not dead-lettered but delivered again after its
// visibility timeout, and Commit said nothing. The frame carries the part
// the broker keeps (api.DLQMaxReasonBytes), which fits.
func TestStreamNackWithALongReasonIsApplied(t *testing.T) {
	c, cons, got := streamConsumer(t, 1, nil)
	reason := "x" + strings.Repeat("é", 40_000) // 80001 bytes, cut inside an é
	if err := cons.NackWith(got[0], NackOptions{Reason: reason}); err != nil {
		t.Fatal(err)
	}
	if err := cons.Commit(); err != nil {
		t.Fatal(err)
	}
	var dead []*Message
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		var err error
		dead, _, err = c.Fetch(t.Context(), api.DLQName("t"), 0, FetchOptions{})
		if err == nil && len(dead) == 0 {
			err = errors.New("no dead letter")
		}
		return err
	})
	if got, want := dead[0].Headers[api.DLQHeaderLastError], reason[:1023]; got != want {
		t.Fatalf("dead letter's last error: %d bytes %q…, want the reason's first %d", len(got), got[:min(len(got), 10)], len(want))
	}
}
