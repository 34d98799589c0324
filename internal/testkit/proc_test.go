package testkit

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var goqueue Binary

// TestMain also checks that no Proc leaves a goroutine behind.
func TestMain(m *testing.M) {
	code := m.Run()
	goqueue.Cleanup()
	http.DefaultClient.CloseIdleConnections()
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Start finds both bound ports; a topic created before a Restart is there
// after it, on the same directory; Stop is a clean exit and Kill is not.
func TestProcStartRestartStopKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	p := Start(t, goqueue.Path(t), Options{Args: []string{"--fsync", "always"}})
	if !strings.HasPrefix(p.URL, "http://127.0.0.1:") || strings.HasSuffix(p.URL, ":0") ||
		!strings.HasPrefix(p.Kafka, "127.0.0.1:") || strings.HasSuffix(p.Kafka, ":0") {
		t.Fatalf("URL %q, Kafka %q", p.URL, p.Kafka)
	}
	resp, err := http.Post(p.URL+"/topics", "application/json", strings.NewReader(`{"name":"orders","partitions":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	dir := p.Dir
	p.Restart()
	if p.Dir != dir {
		t.Fatalf("restart moved the data directory from %s to %s", dir, p.Dir)
	}
	if st, body := get(t, p.URL+"/topics/orders"); st != http.StatusOK {
		t.Fatalf("after restart: %d %s\n%s", st, body, p.Log())
	}
	if !strings.Contains(p.Log(), "--- testkit: restart ---") || !strings.Contains(p.Log(), "stopped cleanly") {
		t.Fatalf("the log lacks the first run's end or the restart mark:\n%s", p.Log())
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.Log())
	}
	if p.Alive() || p.Stop() != nil {
		t.Fatal("alive, or a second Stop differs, after a clean stop")
	}

	k := Start(t, goqueue.Path(t), Options{Dir: dir})
	k.Kill()
	if k.Err() == nil || k.Alive() {
		t.Fatalf("after SIGKILL: alive %v, status %v", k.Alive(), k.Err())
	}
}

// Launch returns before the broker serves; Shell's limit and Env reach
// the broker; so does Signal.
func TestProcLaunchShellSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	p := Launch(t, goqueue.Path(t), Options{Shell: "ulimit -n 512;", Env: []string{"GOQUEUE_SHUTDOWN_TIMEOUT=7s"}})
	select {
	case <-p.Listening():
	case <-p.Exited():
		t.Fatalf("exited: %v\n%s", p.Err(), p.Log())
	case <-time.After(60 * time.Second):
		t.Fatalf("not listening:\n%s", p.Log())
	}
	limit, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(limit), "Max open files            512") {
		t.Fatalf("the shell's ulimit did not reach the broker:\n%s", limit)
	}
	p.Signal(syscall.SIGINT)
	select {
	case <-p.Exited():
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGINT")
	}
	if p.Err() != nil {
		t.Fatalf("exit after SIGINT: %v\n%s", p.Err(), p.Log())
	}
	if !strings.Contains(p.Log(), "timeout=7s") {
		t.Fatalf("GOQUEUE_SHUTDOWN_TIMEOUT=7s from Env did not reach the broker:\n%s", p.Log())
	}
}
