package transport_test

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/transport"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// Out of file descriptors (thousands of connections to any of the node's
// ports), Accept fails until some close. Run returned that error, which
// stopped the node and the broker with it; it now waits and accepts again.
func TestRunRidesOutAcceptFailures(t *testing.T) {
	defer goleak.VerifyNone(t)
	peers := map[uint64]string{}
	lns := map[uint64]net.Listener{}
	for id := uint64(1); id <= 2; id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id], peers[id] = ln, ln.Addr().String()
	}
	lns[2] = testkit.OutOfFiles(lns[2], 3)
	ctx, cancel := context.WithCancel(context.Background())
	g, gctx := errgroup.WithContext(ctx)
	trs := map[uint64]*transport.Transport{}
	for id := uint64(1); id <= 2; id++ {
		tr, err := transport.New(transport.Config{NodeID: id, Listener: lns[id], Peers: peers,
			Deliver: func(uint64, []multiraft.Envelope) {},
			Handle:  func(_ context.Context, _ uint64, req []byte) []byte { return req }})
		if err != nil {
			t.Fatal(err)
		}
		trs[id] = tr
		g.Go(func() error { return tr.Run(gctx) })
	}
	defer func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	if ans, err := trs[1].Call(cctx, 2, []byte("hi")); err != nil || string(ans) != "hi" {
		t.Fatalf("call 1→2 after node 2's accept failures: %q %v", ans, err)
	}
}
