// Package examples_test runs the example programs against a real goqueue
// on localhost:8080, the address they are written for.
package examples_test

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// build compiles the package in dir into tmp.
func build(t *testing.T, tmp, dir string) string {
	t.Helper()
	bin := filepath.Join(tmp, filepath.Base(dir))
	if out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}

// TestExamplesAgainstABroker starts goqueue on localhost:8080 (it skips if
// the port is taken; `unshare -rn sh -c "ip link set lo up; go test ./examples/"`
// gives it a private one), runs the
// producer example, then the seed's consumer-group example until the group
// has consumed everything, and stops it with SIGINT: it must commit and
// leave the group.
func TestExamplesAgainstABroker(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	if l, err := net.Listen("tcp", "127.0.0.1:8080"); err != nil {
		t.Skipf("localhost:8080 is taken (%v); the examples need it", err)
	} else {
		l.Close()
	}
	tmp := t.TempDir()
	goqueue := build(t, tmp, "../cmd/goqueue")
	producer := build(t, tmp, "./producer")
	consumer := build(t, tmp, "./consumer-group")

	broker := exec.Command(goqueue, "--addr", "127.0.0.1:8080", "--kafka-addr", "127.0.0.1:0", "--data-dir", filepath.Join(tmp, "data"))
	var blog bytes.Buffer
	broker.Stderr = &blog
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = broker.Process.Signal(syscall.SIGTERM)
		_ = broker.Wait()
	})
	admin, err := client.New("localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := admin.Version(ctx); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker did not start:\n%s", blog.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	if out, err := exec.Command(producer).CombinedOutput(); err != nil {
		t.Fatalf("producer example: %v\n%s", err, out)
	}
	cons := exec.Command(consumer)
	var clog bytes.Buffer
	cons.Stdout, cons.Stderr = &clog, &clog
	if err := cons.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		g, err := admin.Group(ctx, "order-processor")
		if err == nil && g.Lag == 0 && len(g.Partitions) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consumer-group example did not consume everything: %+v %v\n%s", g, err, clog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cons.Process.Signal(syscall.SIGINT)
	if err := cons.Wait(); err != nil {
		t.Fatalf("consumer-group example after SIGINT: %v\n%s", err, clog.String())
	}
	g, err := admin.Group(ctx, "order-processor")
	if err != nil {
		t.Fatal(err)
	}
	if g.State != api.GroupStateEmpty || g.Lag != 0 {
		t.Fatalf("after the example stopped: state %s, lag %d, members %+v", g.State, g.Lag, g.Members)
	}
}
