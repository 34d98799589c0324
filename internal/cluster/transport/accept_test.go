package transport_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/abd-ulbasit/goqueue/internal/cluster/transport"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// Out of file descriptors (thousands of connections to any of the node's
// ports), Accept fails until some close. Run returned that error, which
// stopped the node and the broker with it; it now waits and accepts again.
func TestRunRidesOutAcceptFailures(t *testing.T) {
	defer goleak.VerifyNone(t)
	trs, stop := callPair(t, func(id uint64, cfg *transport.Config) {
		cfg.Handle = func(_ context.Context, _ uint64, req []byte) []byte { return req }
		if id == 2 {
			cfg.Listener = testkit.OutOfFiles(cfg.Listener, 3)
		}
	})
	defer stop()
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if ans, err := trs[1].Call(cctx, 2, []byte("hi")); err != nil || string(ans) != "hi" {
		t.Fatalf("call 1→2 after node 2's accept failures: %q %v", ans, err)
	}
}
