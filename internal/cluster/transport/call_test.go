package transport_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/transport"
)

// A call reaches the other node's Handle and brings its answer back; the
// fault hook cuts calls as it cuts Raft messages; a node without a Handle
// refuses.
func TestCall(t *testing.T) {
	defer goleak.VerifyNone(t)
	trs, stop := callPair(t, func(id uint64, cfg *transport.Config) {
		if id == 2 {
			cfg.Handle = func(_ context.Context, from uint64, req []byte) []byte {
				return append([]byte{byte(from)}, req...)
			}
		}
	})
	defer stop()
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	ans, err := trs[1].Call(cctx, 2, []byte("hi"))
	if err != nil || string(ans) != "\x01hi" {
		t.Fatalf("call 1→2: %q %v", ans, err)
	}
	if _, err := trs[2].Call(cctx, 1, []byte("hi")); err == nil {
		t.Fatal("a node without a Handle answered")
	}
	trs[1].SetFault(func(from, to uint64) bool { return false })
	if _, err := trs[1].Call(cctx, 2, nil); !errors.Is(err, transport.ErrCallRefused) {
		t.Fatalf("cut call: %v", err)
	}
	trs[1].SetFault(nil)
	trs[2].SetFault(func(from, to uint64) bool { return !(from == 1 && to == 2) })
	if _, err := trs[1].Call(cctx, 2, nil); err == nil {
		t.Fatal("a call through a link cut at the receiver was answered")
	}
}

// callPair runs transports of nodes 1 and 2 on 127.0.0.1, each configured
// by adjust (its Handle, its listener) before it starts; stop ends them
// and waits (defer it after goleak's check).
func callPair(t *testing.T, adjust func(id uint64, cfg *transport.Config)) (trs map[uint64]*transport.Transport, stop func()) {
	t.Helper()
	peers := map[uint64]string{}
	lns := map[uint64]net.Listener{}
	for id := uint64(1); id <= 2; id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id], peers[id] = ln, ln.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, gctx := errgroup.WithContext(ctx)
	trs = map[uint64]*transport.Transport{}
	for id := uint64(1); id <= 2; id++ {
		cfg := transport.Config{NodeID: id, Listener: lns[id], Peers: peers, Deliver: func(uint64, []multiraft.Envelope) {}}
		adjust(id, &cfg)
		tr, err := transport.New(cfg)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		trs[id] = tr
		g.Go(func() error { return tr.Run(gctx) })
	}
	return trs, func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// A call whose request went out but whose answer did not come says so
// (ErrNoAnswer: the peer may have handled it); one never sent whole — too
// large, or cut by the fault hook — does not.
func TestCallSaysWhenItsAnswerWasLost(t *testing.T) {
	defer goleak.VerifyNone(t)
	release := make(chan struct{})
	handled := make(chan int, 10)
	trs, stop := callPair(t, func(id uint64, cfg *transport.Config) {
		if id == 2 {
			cfg.Handle = func(_ context.Context, _ uint64, req []byte) []byte {
				handled <- len(req)
				<-release
				return nil
			}
		}
	})
	defer stop()
	defer close(release) // before stop: the transport waits for its handlers
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := trs[1].Call(ctx, 2, []byte("hi")); !errors.Is(err, transport.ErrNoAnswer) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call left unanswered: %v, want ErrNoAnswer and the deadline", err)
	}
	if n := <-handled; n != 2 {
		t.Fatalf("handled a request of %d bytes", n)
	}
	if _, err := trs[1].Call(context.Background(), 2, make([]byte, transport.MaxCall+1)); err == nil || errors.Is(err, transport.ErrNoAnswer) {
		t.Fatalf("a call over MaxCall: %v, want it refused unsent", err)
	}
	trs[1].SetFault(func(from, to uint64) bool { return false })
	if _, err := trs[1].Call(context.Background(), 2, nil); !errors.Is(err, transport.ErrCallRefused) || errors.Is(err, transport.ErrNoAnswer) {
		t.Fatalf("cut call: %v", err)
	}
	if len(handled) != 0 {
		t.Fatalf("%d requests never sent were handled", len(handled))
	}
}

// A call's handler learns that its caller gave up (its context ends), as
// an HTTP handler does when its client goes.
func TestCallHandlerSeesItsCallerGo(t *testing.T) {
	defer goleak.VerifyNone(t)
	ended := make(chan error, 1)
	trs, stop := callPair(t, func(id uint64, cfg *transport.Config) {
		if id == 2 {
			cfg.Handle = func(ctx context.Context, _ uint64, _ []byte) []byte {
				select {
				case <-ctx.Done():
					ended <- ctx.Err()
				case <-time.After(20 * time.Second):
					ended <- errors.New("the handler's context did not end")
				}
				return nil
			}
		}
	})
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := trs[1].Call(ctx, 2, []byte("long poll")); !errors.Is(err, transport.ErrNoAnswer) {
		t.Fatalf("a call given up: %v", err)
	}
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler: %v", err)
	}
}

// A node holds at most Config.CallBytes of other nodes' call requests
// at once, until their handlers return: a call past it is read through
// and refused unread (ErrPeerBusy: not handled, so not ErrNoAnswer), and
// goes once the others are answered. Unbounded, 24 concurrent group
// requests of 11 MiB passed on to a coordinator took it to 1.08 GB.
func TestCallsPastTheirBytesAreRefused(t *testing.T) {
	defer goleak.VerifyNone(t)
	release := make(chan struct{})
	handled := make(chan int, 10)
	trs, stop := callPair(t, func(id uint64, cfg *transport.Config) {
		if id == 2 {
			cfg.CallBytes = 100 << 10
			cfg.Handle = func(_ context.Context, _ uint64, req []byte) []byte {
				handled <- len(req)
				if len(req) > 1 {
					<-release
				}
				return []byte("ok")
			}
		}
	})
	defer stop()
	first := make(chan error, 1)
	go func() {
		_, err := trs[1].Call(context.Background(), 2, make([]byte, 80<<10))
		first <- err
	}()
	<-handled // held: 80 KiB of the 100
	if _, err := trs[1].Call(context.Background(), 2, make([]byte, 40<<10)); !errors.Is(err, transport.ErrPeerBusy) || !errors.Is(err, transport.ErrCallRefused) || errors.Is(err, transport.ErrNoAnswer) {
		t.Fatalf("a call past the bytes held: %v, want ErrPeerBusy", err)
	}
	if ans, err := trs[1].Call(context.Background(), 2, []byte("s")); err != nil || string(ans) != "ok" {
		t.Fatalf("a call within them: %q %v", ans, err)
	}
	<-handled
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if ans, err := trs[1].Call(context.Background(), 2, make([]byte, 90<<10)); err != nil || string(ans) != "ok" {
		t.Fatalf("a call once the bytes were given back: %q %v", ans, err)
	}
	<-handled
	if len(handled) != 0 {
		t.Fatalf("%d more calls handled than answered", len(handled))
	}
}
