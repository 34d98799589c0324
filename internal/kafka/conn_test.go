package kafka

import (
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

// A client closing its end (an answer then meets a broken pipe or a
// reset, as confluent-kafka's consumers' closes did) is not logged as a
// warning; anything else that closes a connection is.
func TestPeerGone(t *testing.T) {
	wrote := func(errno syscall.Errno) error {
		return &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", errno)}
	}
	for _, tc := range []struct {
		err  error
		gone bool
	}{
		{wrote(syscall.EPIPE), true},
		{wrote(syscall.ECONNRESET), true},
		{fmt.Errorf("answer: %w", io.EOF), true},
		{net.ErrClosed, true},
		{wrote(syscall.ENOBUFS), false},
		{fmt.Errorf("%w: unknown key 999", errFrame), false},
	} {
		if got := peerGone(tc.err); got != tc.gone {
			t.Errorf("peerGone(%v) = %v, want %v", tc.err, got, tc.gone)
		}
	}
}
