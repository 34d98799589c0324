package transport

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

// A call's request is read as long as it keeps arriving at callMinRate,
// not within the handshake's DialTimeout: a group's write passed on to its
// coordinator carries up to 12 MiB, which on a loaded node (or a slow
// link) took longer than 1 s to arrive and was cut, its caller told the
// answer did not come (the write may have been applied). A request that
// stops coming is still cut, within DialTimeout and its size at
// callMinRate.
func TestCallRequestReadAtItsPace(t *testing.T) {
	defer goleak.VerifyNone(t)
	const dialTimeout = 100 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	handled := make(chan int, 2)
	tr, err := New(Config{NodeID: 2, Listener: ln, Peers: map[uint64]string{1: "127.0.0.1:1", 2: ln.Addr().String()},
		Deliver: func(uint64, []multiraft.Envelope) {}, DialTimeout: dialTimeout,
		Handle: func(_ context.Context, _ uint64, req []byte) []byte {
			handled <- len(req)
			return []byte("ok")
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var g errgroup.Group
	g.Go(func() error { return tr.Run(ctx) })
	defer func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Error(err)
		}
	}()

	const size = callMinRate // a second's worth at the least rate
	for _, c := range []struct {
		name     string
		pause    time.Duration // between the request's halves
		stop     bool          // the second half never comes
		answered bool
	}{
		{"slower than the handshake, at the least rate", 4 * dialTimeout, false, true},
		{"stopped half way", 0, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			msg := appendBlob(appendGreeting(nil, callMagic, 1), make([]byte, size))
			if _, err := conn.Write(msg[:len(msg)/2]); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if !c.stop {
				time.Sleep(c.pause)
				if _, err := conn.Write(msg[len(msg)/2:]); err != nil {
					t.Fatal(err)
				}
			}
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			ans, err := readBlob(conn)
			took := time.Since(start)
			if c.answered {
				if err != nil || string(ans) != "ok" || <-handled != size {
					t.Fatalf("answer %q, %v after %v; want ok", ans, err, took)
				}
				return
			}
			if err == nil || took > 5*time.Second || len(handled) != 0 {
				t.Fatalf("a request that stopped: answer %q, %v after %v, %d handled; want the connection cut", ans, err, took, len(handled))
			}
		})
	}
}
