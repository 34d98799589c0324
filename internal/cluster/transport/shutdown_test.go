package transport

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

// A peer that dials a node as it stops may be handed over to a session
// that has already ended: Run closes such a connection before it
// returns. It stayed open, unserved: the peer, which had read the
// stopping process's hello, took the node for up and noticed neither its
// stop nor its restart for DownAfter (TestRestartedPeerIsReported failed
// so, about one run in twenty).
func TestRunClosesAConnectionHandedOverAsItStops(t *testing.T) {
	defer goleak.VerifyNone(t)
	for i := range 40 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tr, err := New(Config{NodeID: 2, Listener: ln, Peers: map[uint64]string{1: "127.0.0.1:1"},
			Deliver: func(uint64, []multiraft.Envelope) {}, DownAfter: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- tr.Run(ctx) }()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		// Node 1's hello, and the stop, at once: the handshake hands the
		// connection over before, as or after the sessions end.
		hello := appendHello(nil, 1, 7)
		go c.Write(hello)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// Stopped: whatever it answered, the connection must be closed.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var buf [64]byte
		for {
			if _, err = c.Read(buf[:]); err != nil {
				break
			}
		}
		c.Close()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("run %d: the connection is still open after Run returned", i)
		}
	}
}
