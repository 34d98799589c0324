package listen_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/listen"
)

// failing is a listener whose Accept fails with errs in turn, then
// returns conns; it blocks once both are used up, until closed.
type failing struct {
	errs   []error
	conns  []net.Conn
	closed chan struct{}
}

func newFailing(errs []error, conns ...net.Conn) *failing {
	return &failing{errs: errs, conns: conns, closed: make(chan struct{})}
}

func (f *failing) Accept() (net.Conn, error) {
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	if len(f.conns) > 0 {
		c := f.conns[0]
		f.conns = f.conns[1:]
		return c, nil
	}
	<-f.closed
	return nil, net.ErrClosed
}

func (f *failing) Close() error   { close(f.closed); return nil }
func (f *failing) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// acceptErr is an accept failure as the net package returns it.
func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestPatientRetriesPassingFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		var errs []error
		for range 10 {
			errs = append(errs, acceptErr(syscall.EMFILE))
		}
		errs = append(errs, acceptErr(syscall.ECONNABORTED))
		ln := listen.Patient(newFailing(errs, a), quiet)
		defer ln.Close()
		start := time.Now()
		c, err := ln.Accept()
		if err != nil {
			t.Fatalf("Accept: %v; want the connection after the failures", err)
		}
		c.Close()
		// 5+10+20+...+1000 ms for 11 failures, the backoff capped at 1 s.
		if took, want := time.Since(start), 5*time.Millisecond*(1+2+4+8+16+32+64+128)+3*time.Second; took != want {
			t.Errorf("Accept took %v of backoff; want %v", took, want)
		}
	})
}

func TestPatientReturnsOtherFailures(t *testing.T) {
	bad := errors.New("listener broken")
	ln := listen.Patient(newFailing([]error{bad}), quiet)
	defer ln.Close()
	if _, err := ln.Accept(); !errors.Is(err, bad) {
		t.Fatalf("Accept: %v; want %v", err, bad)
	}
}

func TestPatientCloseEndsBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var errs []error
		for range 100 {
			errs = append(errs, acceptErr(syscall.EMFILE))
		}
		ln := listen.Patient(newFailing(errs), quiet)
		done := make(chan error)
		go func() {
			_, err := ln.Accept()
			done <- err
		}()
		time.Sleep(2 * time.Second) // in the backoff
		synctest.Wait()
		ln.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v; want net.ErrClosed", err)
		}
	})
}

func TestPassing(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{acceptErr(syscall.EMFILE), true},
		{acceptErr(syscall.ENFILE), true},
		{acceptErr(syscall.ECONNABORTED), true},
		{acceptErr(syscall.EINVAL), false},
		{net.ErrClosed, false},
		{fmt.Errorf("wrapped: %w", acceptErr(syscall.EMFILE)), true},
	} {
		if got := listen.Passing(tc.err); got != tc.want {
			t.Errorf("Passing(%v) = %v; want %v", tc.err, got, tc.want)
		}
	}
}
