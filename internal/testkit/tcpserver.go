package testkit

import (
	"net"
	"sync"
	"testing"
)

// TCPServer is a test's server of raw connections on 127.0.0.1 (a canned
// broker, a proxy that breaks or stalls what it carries): what its tests
// would otherwise each write again is the bookkeeping that lets the
// test's cleanup end it, closing the listener and every connection and
// waiting for its goroutines, so that none outlives the test.
type TCPServer struct {
	Addr string // host:port

	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn // guarded by mu
}

// ServeTCP listens on 127.0.0.1 and hands each connection accepted to
// handle, on a goroutine of its own; tb's cleanup ends the server.
// handle tracks the connections it opens itself (a proxy's upstream) with
// Track, and starts its other goroutines with Go.
func ServeTCP(tb testing.TB, handle func(s *TCPServer, conn net.Conn)) *TCPServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &TCPServer{Addr: ln.Addr().String(), ln: ln}
	s.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.Track(conn)
			s.Go(func() { handle(s, conn) })
		}
	})
	tb.Cleanup(s.close)
	return s
}

// Track has the cleanup close conn.
func (s *TCPServer) Track(conn net.Conn) {
	s.mu.Lock()
	s.conns = append(s.conns, conn)
	s.mu.Unlock()
}

// Go runs f on a goroutine the cleanup waits for; f must return once the
// connections it uses are closed.
func (s *TCPServer) Go(f func()) { s.wg.Go(f) }

func (s *TCPServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
