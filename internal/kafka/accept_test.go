package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/listen"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// Out of file descriptors (thousands of idle connections on any of the
// broker's ports), Accept fails until some close. Serve returned that
// error, which stopped the listener and the whole broker with it; it now
// waits and accepts again.
func TestServeRidesOutAcceptFailures(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	br, err := broker.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(br, Options{}).Serve(ctx, testkit.OutOfFiles(ln, 3)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := askVersionsOn(c); err != nil {
		select {
		case err := <-done:
			t.Fatalf("Serve returned %v on a passing accept failure", err)
		default:
		}
		t.Fatalf("no ApiVersions answer after the accept failures: %v", err)
	}
}

// askVersionsOn sends ApiVersions v0 on c and reads the answer's size and
// correlation ID.
func askVersionsOn(c net.Conn) error {
	req := binary.BigEndian.AppendUint32(nil, 0)
	req = binary.BigEndian.AppendUint16(req, uint16(kmsg.ApiVersions))
	req = append(req, 0, 0, 0, 0, 0, 1, 0xff, 0xff) // v0, correlation 1, no client ID
	binary.BigEndian.PutUint32(req, uint32(len(req)-4))
	c.Write(req)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadFull(c, make([]byte, 8))
	return err
}

// With Options.Conns, a connection over the bound is closed at once, and
// one that closes makes room again.
func TestServeBoundsConnections(t *testing.T) {
	conns := listen.NewConns(1, 0)
	s := serveFresh(t, nil, Options{Conns: conns}, nil)
	defer s.stop(t)
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := dial()
	if err := askVersionsOn(first); err != nil {
		t.Fatalf("first connection: %v", err)
	}
	over := dial()
	if err := askVersionsOn(over); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("connection over the bound: %v; want it closed", err)
	}
	over.Close()
	first.Close()
	testkit.EventuallyNil(t, 5*time.Second, func() error {
		c := dial()
		defer c.Close()
		return askVersionsOn(c)
	})
	testkit.EventuallyNil(t, 5*time.Second, func() error {
		if n := conns.Open(); n != 0 {
			return fmt.Errorf("%d connections counted open after all closed", n)
		}
		return nil
	})
}

// A connection past its address's bound (listen.Conns' perAddr) is closed
// at once, while another address's is served.
func TestServeBoundsConnectionsPerAddress(t *testing.T) {
	conns := listen.NewConns(10, 1)
	s := serveFresh(t, nil, Options{Conns: conns}, nil)
	defer s.stop(t)
	dialFrom := func(ip string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		c, err := d.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	if err := askVersionsOn(dialFrom("127.0.0.1")); err != nil {
		t.Fatalf("first connection: %v", err)
	}
	if err := askVersionsOn(dialFrom("127.0.0.1")); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("a second connection from one address: %v; want it closed", err)
	}
	if err := askVersionsOn(dialFrom("127.0.0.2")); err != nil {
		t.Fatalf("another address's connection: %v", err)
	}
}
