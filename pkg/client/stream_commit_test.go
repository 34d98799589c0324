package client

import (
	"context"
	"net"
	"strconv"
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
	const n = 10
	for i := range n {
		if _, err := c.Publish(ctx, "t", api.PublishMessage{Value: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := NewConsumer(&ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var armed atomic.Bool
	cons.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &ackBlackHole{Conn: conn, armed: &armed}, nil
	}
	var got []*Message
	for len(got) < n && ctx.Err() == nil {
		msgs, err := cons.Poll(ctx, n-len(got))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, msgs...)
	}
	if cons.liveStream() == nil {
		t.Fatal("the messages did not come on the stream")
	}
	armed.Store(true)
	for _, m := range got {
		if err := cons.Ack(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := cons.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	off, err := c.GroupOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if got := off["t"][0]; got != n {
		t.Fatalf("Commit returned nil with the group's offset at %d, not %d: acknowledgements the broker never read were reported committed", got, n)
	}
}
