package client

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// ackBlackHole is a stream connection that, once armed, drops the ACK
// frames written to it and fails the write that follows: the broker never
// reads the acknowledgements, and the client learns of it when it writes
// the PING after them. (A coordinator SIGKILLed in the middle of a
// commit does this to a member.)
type ackBlackHole struct {
	net.Conn
	armed *atomic.Bool
}

func (c *ackBlackHole) Write(b []byte) (int, error) {
	if !c.armed.Load() || len(b) < api.StreamHeaderLen {
		return c.Conn.Write(b)
	}
	switch api.StreamType(b[4]) {
	case api.StreamAck:
		return len(b), nil
	case api.StreamPing:
		return 0, errInjected
	}
	return c.Conn.Write(b)
}

// A commit on the stream returns nil only once the broker has applied
// its acknowledgements. When the stream fails after the ACK frames were
// written and before their PING was, the frames no PONG confirmed go again
// as requests before Commit answers. Commit returned nil with them unsent
// before (found by TestBinaryClusterGroupFailover with members on the
// stream: acknowledged messages delivered again after the kill).
func TestStreamCommitWhenTheStreamBreaks(t *testing.T) {
	const n = 10
	var armed atomic.Bool
	c, cons, got := streamConsumer(t, n, func(conn net.Conn) net.Conn {
		return &ackBlackHole{Conn: conn, armed: &armed}
	})
	armed.Store(true)
	ackAll(t, cons, got)
	if err := cons.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	wantCommitted(t, c, n)
}

// ackAll acknowledges msgs.
func ackAll(t *testing.T, cons *Consumer, msgs []*Message) {
	t.Helper()
	for _, m := range msgs {
		if err := cons.Ack(m); err != nil {
			t.Fatal(err)
		}
	}
}

// wantCommitted fails the test unless group g's offset of t/0, after a
// Commit that returned nil, is n.
func wantCommitted(t *testing.T, c *Client, n int64) {
	t.Helper()
	off, err := c.GroupOffsets(t.Context(), "g")
	if err != nil {
		t.Fatal(err)
	}
	if got := off["t"][0]; got != n {
		t.Fatalf("Commit returned nil with the group's offset at %d, not %d: acknowledgements the broker never applied were reported committed", got, n)
	}
}

// settleAnswerer is a stream connection that, once armed, keeps the ACK
// frames and PINGs written to it from the broker and answers them itself:
// each ACK with a SETTLED carrying refusal (nil: no answer at all), each
// PING with its PONG (unless ACKs go unanswered), in the order written, as
// a broker would — slowly at first: the answers to the frames up to the
// first PING are read only once a second PING is written.
type settleAnswerer struct {
	net.Conn
	armed   *atomic.Bool
	refusal *api.Error

	mu     sync.Mutex
	pings  int    // PINGs written since armed
	held   []byte // answers not yet readable
	inject []byte // frames to read before the broker's
}

func (c *settleAnswerer) Write(b []byte) (int, error) {
	if !c.armed.Load() || len(b) < api.StreamHeaderLen {
		return c.Conn.Write(b)
	}
	id := binary.BigEndian.Uint32(b[5:api.StreamHeaderLen])
	var answer []byte
	switch api.StreamType(b[4]) {
	case api.StreamAck:
		if c.refusal != nil {
			answer = api.AppendStreamFrame(nil, api.StreamSettled, id, api.AppendStreamError(nil, c.refusal))
		}
	case api.StreamPing:
		if c.refusal != nil {
			answer = api.AppendStreamFrame(nil, api.StreamPong, id, nil)
		}
	default:
		return c.Conn.Write(b)
	}
	if answer == nil {
		return len(b), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = append(c.held, answer...)
	if api.StreamType(b[4]) == api.StreamPing {
		c.pings++
	}
	if c.pings >= 2 {
		c.inject = append(c.inject, c.held...)
		c.held = nil
		c.Conn.SetReadDeadline(time.Now()) // wakes a read waiting for the broker
	}
	return len(b), nil
}

func (c *settleAnswerer) Read(b []byte) (int, error) {
	for {
		c.mu.Lock()
		if len(c.inject) > 0 {
			n := copy(b, c.inject)
			c.inject = c.inject[n:]
			c.mu.Unlock()
			return n, nil
		}
		c.mu.Unlock()
		n, err := c.Conn.Read(b)
		if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			c.Conn.SetReadDeadline(time.Time{})
			continue // woken to read what was injected
		}
		return n, err
	}
}

// streamConsumer starts a consumer of group g on topic t (created with
// n messages) whose stream connections are wrapped by wrap, and polls
// the n messages on the stream.
func streamConsumer(t *testing.T, n int, wrap func(net.Conn) net.Conn) (*Client, *Consumer, []*Message) {
	t.Helper()
	c, cons, got := groupConsumer(t, n, n, ConsumerConfig{}, wrap)
	if cons.liveStream() == nil {
		t.Fatal("the messages did not come on the stream")
	}
	return c, cons, got
}

// groupConsumer starts a consumer of group g on topic t (created with n
// messages), configured as cfg says besides (PollWait 50 ms unless set),
// whose stream connections (if any) are wrapped by wrap, and polls want
// messages.
func groupConsumer(t *testing.T, n, want int, cfg ConsumerConfig, wrap func(net.Conn) net.Conn) (*Client, *Consumer, []*Message) {
	t.Helper()
	srv := brokertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTopic(ctx, api.CreateTopicRequest{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := c.Publish(ctx, "t", api.PublishMessage{Value: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Brokers, cfg.GroupID, cfg.Topics = []string{srv.URL}, "g", []string{"t"}
	if cfg.PollWait == 0 {
		cfg.PollWait = 50 * time.Millisecond
	}
	cons, err := NewConsumer(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cons.Close() })
	if wrap == nil {
		wrap = func(conn net.Conn) net.Conn { return conn }
	}
	cons.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return wrap(conn), nil
	}
	var got []*Message
	for len(got) < want && ctx.Err() == nil {
		msgs, err := cons.Poll(ctx, want-len(got))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, msgs...)
	}
	return c, cons, got
}

// A retriable refusal (UNAVAILABLE: say, the coordinator's write failed)
// of ACK frames a Poll sent, without waiting, is seen by the Commit that
// follows: the acknowledgements go again, and Commit returns once they
// are applied. It returned nil before, with them queued and unsent, since
// only the refusals of the frames it sent itself were looked at.
func TestStreamCommitSeesAnEarlierRefusal(t *testing.T) {
	const n = 10
	var armed atomic.Bool
	c, cons, got := streamConsumer(t, n, func(conn net.Conn) net.Conn {
		return &settleAnswerer{Conn: conn, armed: &armed, refusal: api.ErrUnavailable.Withf("offsets not written")}
	})
	armed.Store(true)
	ackAll(t, cons, got)
	if _, err := cons.Poll(t.Context(), 1); err != nil { // sends the ACK frames, and a PING it does not wait for
		t.Fatal(err)
	}
	if err := cons.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	wantCommitted(t, c, n)
}

// A member lost while ACK frames it sent are unanswered (its heartbeat
// told UNKNOWN_MEMBER) cannot have them applied: Close reports them as
// not committed. It returned nil before: the stream's reader queued them
// again into the reset membership, which Close did not count.
func TestStreamAcksOfALostMemberAreReported(t *testing.T) {
	const n = 10
	var armed atomic.Bool
	_, cons, got := streamConsumer(t, n, func(conn net.Conn) net.Conn {
		return &settleAnswerer{Conn: conn, armed: &armed} // ACKs and PINGs never answered
	})
	armed.Store(true)
	ackAll(t, cons, got)
	if _, err := cons.Poll(t.Context(), 1); err != nil { // sends the ACK frames
		t.Fatal(err)
	}
	cons.mu.Lock()
	sess := cons.state.session
	cons.mu.Unlock()
	cons.lose(sess) // as a heartbeat answered UNKNOWN_MEMBER does
	if err := cons.Close(); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Close after losing the membership with %d acknowledgements unanswered: %v, want ErrRevoked", n, err)
	}
}

// A PONG confirms the settle frames sent before its PING, also across the
// wrap of the frame ids: one sent after the wrap (a smaller id) stays
// unconfirmed.
func TestStreamPongAcrossIDWrap(t *testing.T) {
	const last = ^uint32(0)
	st := &consumerStream{pongs: map[uint32]chan struct{}{}, sent: map[uint32]*sentSettle{
		last - 2: {}, last - 1: {}, 0: {}, 2: {},
	}}
	st.pong(last) // the PING sent after last-1, before 0 and 2
	if _, ok := st.sent[last-2]; ok {
		t.Error("frame sent before the PING still unconfirmed")
	}
	for _, id := range []uint32{0, 2} {
		if _, ok := st.sent[id]; !ok {
			t.Errorf("frame %d, sent after the PING (the ids wrapped), confirmed by it", id)
		}
	}
}

// Close of a consumer whose stream's reader is in a callback that does
// not return (OnLost: the broker said on the stream that it no longer
// knows the member) waited for the reader for ever. It returns within
// twice CloseTimeout and says a callback did not return, as it does for
// one the background goroutine is in.
func TestCloseWithTheStreamReaderInACallback(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	defer free() // before the cleanup's Close
	const closeTimeout = 500 * time.Millisecond
	cfg := ConsumerConfig{CloseTimeout: closeTimeout, OnLost: func(api.Assignment) {
		entered <- struct{}{}
		<-release
	}}
	_, cons, _ := groupConsumer(t, 1, 1, cfg, nil)
	if cons.liveStream() == nil {
		t.Fatal("the message did not come on the stream")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The broker forgets the member behind its back, and says so on the
	// stream (UNKNOWN_MEMBER): the stream's reader calls OnLost.
	if err := cons.t.do(ctx, "POST", cons.path+"/leave", api.LeaveRequest{MemberID: cons.MemberID()}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("OnLost not called")
	}
	closed := make(chan error, 1)
	go func() { closed <- cons.Close() }()
	select {
	case err := <-closed:
		if err == nil || !strings.Contains(err.Error(), "callback did not return") {
			t.Fatalf("Close: %v, want the error that a callback did not return", err)
		}
	case <-time.After(10 * closeTimeout):
		free()
		<-closed
		t.Fatalf("Close still waiting after %v (CloseTimeout %v)", 10*closeTimeout, closeTimeout)
	}
}
