// Package examples_test runs the example programs against a real goqueue
// on localhost:8080, the address they are written for.
package examples_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// goqueue is the broker's binary, built on first use; TestMain removes it.
var goqueue testkit.Binary

func TestMain(m *testing.M) {
	code := m.Run()
	goqueue.Cleanup()
	os.Exit(code)
}

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
	producer := build(t, tmp, "./producer")
	consumer := build(t, tmp, "./consumer-group")

	// Start returns once the broker serves; its output is shown if the
	// test fails.
	testkit.Start(t, goqueue.Path(t), testkit.Options{Addr: "127.0.0.1:8080", StartTimeout: 10 * time.Second})
	admin, err := client.New("localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	if out, err := exec.Command(producer).CombinedOutput(); err != nil {
		t.Fatalf("producer example: %v\n%s", err, out)
	}
	cons := exec.Command(consumer)
	var clog bytes.Buffer
	cons.Stdout, cons.Stderr = &clog, &clog
	if err := cons.Start(); err != nil {
		t.Fatal(err)
	}
	var last string // what the group looked like; clog is read only once the wait is over
	if !testkit.Within(20*time.Second, func() bool {
		g, err := admin.Group(ctx, "order-processor")
		last = fmt.Sprintf("%+v %v", g, err)
		return err == nil && g.Lag == 0 && len(g.Partitions) == 3
	}) {
		t.Fatalf("the consumer-group example did not consume everything: %s\n%s", last, clog.String())
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
