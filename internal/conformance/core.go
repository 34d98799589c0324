package conformance

import (
	"context"
	"log/slog"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// Core is a broker for a Target to drive: open on a test's temporary
// directory with its Run loop going, inside the test's synctest bubble, and
// closed by t.Cleanup. Its methods are for the test's goroutine.
type Core struct {
	t   *testing.T
	cfg broker.Config // immutable after StartCore

	b    *broker.Broker // nil once stopped
	stop context.CancelFunc
	done chan error
}

// StartCore opens a broker with the default configuration on t.TempDir and
// starts its Run loop. Call it inside the bubble the scenario runs in.
func StartCore(t *testing.T) *Core {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Logger = slog.New(slog.DiscardHandler)
	c := &Core{t: t, cfg: cfg}
	c.start()
	t.Cleanup(c.close)
	return c
}

func (c *Core) start() {
	c.t.Helper()
	b, err := broker.Open(c.cfg)
	if err != nil {
		c.t.Fatalf("conformance: open broker: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.b, c.stop, c.done = b, cancel, make(chan error, 1)
	go func() { c.done <- b.Run(ctx) }()
}

// Broker is the running broker; it changes at Restart.
func (c *Core) Broker() *broker.Broker { return c.b }

// Restart stops and closes the broker, then opens it again on the same
// directory.
func (c *Core) Restart() {
	c.t.Helper()
	c.close()
	c.start()
}

// close stops Run and closes the broker. Idempotent.
func (c *Core) close() {
	c.t.Helper()
	if c.b == nil {
		return
	}
	c.stop()
	if err := <-c.done; err != nil {
		c.t.Errorf("conformance: broker run: %v", err)
	}
	if err := c.b.Close(); err != nil {
		c.t.Errorf("conformance: close broker: %v", err)
	}
	c.b = nil
}
