package listen_test

import (
	"io"
	"net"
	"net/netip"
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
	conns := listen.NewConns(2, 0)
	ln := listen.Limit(tcp, conns, func(listen.Refusal) []byte { return []byte("full\n") })
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
		if why := c.Take(nil); why != listen.Admitted {
			t.Fatalf("a nil *Conns refused: %v", why)
		}
	}
	c.Give(nil)
}

func tcpAddr(s string) net.Addr {
	ap := netip.MustParseAddrPort(s)
	return net.TCPAddrFromAddrPort(ap)
}

// One address (an IPv4 address, an IPv6 /64, whatever its ports) holds at
// most perAddr places; others still get theirs, up to the bound.
func TestConnsPerAddress(t *testing.T) {
	type take struct {
		addr string
		want listen.Refusal
	}
	for _, tc := range []struct {
		name         string
		max, perAddr int
		takes        []take
	}{
		{"one address cannot take every place", 4, 2, []take{
			{"10.0.0.1:1000", listen.Admitted}, {"10.0.0.1:1001", listen.Admitted}, {"10.0.0.1:1002", listen.AddrFull},
			{"10.0.0.2:1000", listen.Admitted}, {"10.0.0.3:1000", listen.Admitted}, {"10.0.0.4:1000", listen.Full},
		}},
		{"an IPv6 /64 is one address", 10, 2, []take{
			{"[2001:db8::1]:1", listen.Admitted}, {"[2001:db8::2]:1", listen.Admitted}, {"[2001:db8::ffff:1]:1", listen.AddrFull},
			{"[2001:db8:0:1::1]:1", listen.Admitted},
		}},
		{"an IPv4-mapped address is its IPv4 address", 10, 1, []take{
			{"10.0.0.1:1", listen.Admitted}, {"[::ffff:10.0.0.1]:2", listen.AddrFull},
		}},
		{"no bound per address", 3, 0, []take{
			{"10.0.0.1:1", listen.Admitted}, {"10.0.0.1:2", listen.Admitted}, {"10.0.0.1:3", listen.Admitted}, {"10.0.0.1:4", listen.Full},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := listen.NewConns(tc.max, tc.perAddr)
			var admitted []net.Addr
			for _, tk := range tc.takes {
				a := tcpAddr(tk.addr)
				if got := c.Take(a); got != tk.want {
					t.Fatalf("Take(%s) = %v; want %v", tk.addr, got, tk.want)
				} else if got == listen.Admitted {
					admitted = append(admitted, a)
				}
			}
			if c.Open() != len(admitted) {
				t.Fatalf("Open() = %d; want the %d admitted", c.Open(), len(admitted))
			}
			for _, a := range admitted {
				c.Give(a)
			}
			if c.Open() != 0 || c.Addresses() != 0 {
				t.Fatalf("after every Give: %d open, %d addresses counted; want none", c.Open(), c.Addresses())
			}
			// The places are back: the first take succeeds again.
			if got := c.Take(tcpAddr(tc.takes[0].addr)); got != listen.Admitted {
				t.Fatalf("Take after every Give = %v", got)
			}
		})
	}
}

// Over a listener, a connection past its address's bound is sent that
// refusal's answer, while another address's is accepted.
func TestLimitPerAddress(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := listen.NewConns(10, 1)
	ln := listen.Limit(tcp, conns, func(why listen.Refusal) []byte { return []byte(why.String()) })
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dialFrom := func(ip string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		c, err := d.Dial("tcp", tcp.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dialFrom("127.0.0.1")
	held := <-accepted
	defer held.Close()
	over := dialFrom("127.0.0.1")
	over.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(over); err != nil || string(b) != listen.AddrFull.String() {
		t.Fatalf("a second connection from one address read %q, %v; want %q, then EOF", b, err, listen.AddrFull)
	}
	dialFrom("127.0.0.2")
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("another address's connection was not accepted")
	}
}
