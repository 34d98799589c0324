package testkit

import (
	"net"
	"os"
	"syscall"
)

// OutOfFiles wraps ln so that its first fails accepts fail as they do when
// the process has no file descriptor left (EMFILE); the later ones are
// ln's. Accept must be called from one goroutine, as accept loops do.
func OutOfFiles(ln net.Listener, fails int) net.Listener {
	return &outOfFiles{Listener: ln, fails: fails}
}

type outOfFiles struct {
	net.Listener
	fails int // owned by the accept loop
}

func (l *outOfFiles) Accept() (net.Conn, error) {
	if l.fails > 0 {
		l.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}
