package kafka

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// served is a Server over a fresh broker, serving on 127.0.0.1 until
// cancel; done receives Serve's result.
type served struct {
	br     *broker.Broker
	srv    *Server
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// serveFresh opens a broker in a temporary directory (broker.DefaultConfig,
// changed by tune unless nil) holding topic "t" of one partition, makes its
// Server with opts, hands it to prepare (unless nil) and serves it. The
// caller closes s.br (after Serve returned: a goroutine leak check must see
// it closed).
func serveFresh(t *testing.T, tune func(*broker.Config), opts Options, prepare func(*Server)) *served {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	if tune != nil {
		tune(&cfg)
	}
	br, err := broker.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := br.CreateTopic(broker.TopicSpec{Name: "t", Partitions: 1}); err != nil {
		br.Close()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		br.Close()
		t.Fatal(err)
	}
	s := &served{br: br, srv: New(br, opts), addr: ln.Addr().String(), done: make(chan error, 1)}
	if prepare != nil {
		prepare(s.srv)
	}
	var ctx context.Context
	ctx, s.cancel = context.WithCancel(context.Background())
	go func() { s.done <- s.srv.Serve(ctx, ln) }()
	return s
}

// stop ends Serve, checks it returned (see returned), then closes the
// broker: what every test's deferred clean-up does.
func (s *served) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	s.returned(t)
	s.br.Close()
}

// returned fails t unless Serve returns nil within 10 s (its context
// ended before).
func (s *served) returned(t *testing.T) {
	t.Helper()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return 10 s after its context ended")
	}
}
