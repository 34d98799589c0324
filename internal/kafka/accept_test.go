package kafka

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// outOfFiles is a listener whose first accepts fail as they do when the
// process has no file descriptor left.
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
	go func() { done <- New(br, Options{}).Serve(ctx, &outOfFiles{Listener: ln, fails: 3}) }()
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
	req := binary.BigEndian.AppendUint32(nil, 0)
	req = binary.BigEndian.AppendUint16(req, uint16(kmsg.ApiVersions))
	req = append(req, 0, 0, 0, 0, 0, 1, 0xff, 0xff) // v0, correlation 1, no client ID
	binary.BigEndian.PutUint32(req, uint32(len(req)-4))
	c.Write(req)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 8)); err != nil {
		select {
		case err := <-done:
			t.Fatalf("Serve returned %v on a passing accept failure", err)
		default:
		}
		t.Fatalf("no ApiVersions answer after the accept failures: %v", err)
	}
}
