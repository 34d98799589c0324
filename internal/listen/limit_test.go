package listen_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/listen"
)

// A connection over the bound is sent the answer and closed, and is not
// returned; closing an accepted one makes room for the next.
func TestLimit(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := listen.NewConns(2)
	ln := listen.Limit(tcp, conns, []byte("full\n"))
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", tcp.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var held []net.Conn
	for range 2 {
		dial()
		held = append(held, <-accepted)
	}
	over := dial()
	over.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(over); err != nil || string(b) != "full\n" {
		t.Fatalf("a connection over the bound read %q, %v; want the answer, then EOF", b, err)
	}
	if n := conns.Open(); n != 2 {
		t.Fatalf("Open() = %d; want 2", n)
	}
	held[0].Close()
	held[0].Close() // gives its place back once
	if n := conns.Open(); n != 1 {
		t.Fatalf("Open() after a close = %d; want 1", n)
	}
	dial()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted after one closed")
	}
}

func TestNilConnsAdmitsAll(t *testing.T) {
	var c *listen.Conns
	for range 3 {
		if !c.Take() {
			t.Fatal("a nil *Conns refused")
		}
	}
	c.Give()
}
