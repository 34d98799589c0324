// Package listen wraps the broker's listeners against what their clients
// can make the process run out of. It owns no connection once accepted.
//
// A listener's Accept fails for a while when the process is out of file
// descriptors (EMFILE, ENFILE) or a connection was reset before it was
// accepted (ECONNABORTED): every connection that then closes makes room
// again. net/http retries such failures with a backoff; an accept loop
// that ends on them instead stops its listener for good, and a broker
// whose listener stops shuts down, so a few thousand idle connections to
// one port stopped every other.
package listen

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// Backoff bounds the wait between accepts that failed for a passing cause:
// it starts at BackoffMin and doubles up to BackoffMax, as net/http's.
const (
	BackoffMin = 5 * time.Millisecond
	BackoffMax = time.Second
)

// patient is a listener whose Accept rides out passing failures.
type patient struct {
	net.Listener
	log    *slog.Logger // immutable
	closed chan struct{}
	once   sync.Once
}

// Patient wraps ln so that its Accept retries, after a backoff, the
// failures that pass once connections close (Passing), logging each at
// warning level on log. Accept returns any other error, and
// net.ErrClosed at once when Close is called during a backoff.
func Patient(ln net.Listener, log *slog.Logger) net.Listener {
	return &patient{Listener: ln, log: log, closed: make(chan struct{})}
}

func (p *patient) Accept() (net.Conn, error) {
	wait := time.Duration(0)
	for {
		c, err := p.Listener.Accept()
		if err == nil || !Passing(err) {
			return c, err
		}
		wait = min(max(2*wait, BackoffMin), BackoffMax)
		p.log.Warn("accept failed; retrying", "addr", p.Addr().String(), "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.closed:
			t.Stop()
			return nil, net.ErrClosed
		}
	}
}

func (p *patient) Close() error {
	p.once.Do(func() { close(p.closed) })
	return p.Listener.Close()
}

// Passing reports whether an Accept failure is one that passes: out of
// file descriptors or memory for sockets, or a connection gone before it
// was accepted.
func Passing(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
