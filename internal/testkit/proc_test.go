package testkit

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
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

// fakeGoqueue is a stand-in for the binary: it logs a listening line and,
// on SIGTERM, logs a panic and exits 3.
const fakeGoqueue = `#!/bin/sh
trap 'echo "panic: boom" >&2; exit 3' TERM
echo "on stdout too"
echo 'time=t level=INFO msg=listening addr=127.0.0.1:1 url=http://127.0.0.1:1 data_dir=/x tls=false auth=false kafka_addr=127.0.0.1:2' >&2
while :; do sleep 0.05; done
`

// With CheckExit, the cleanup fails the test when the broker exits
// uncleanly or logged a panic, and then shows its output; without it, it
// only stops the broker.
func TestProcCleanupChecksExitAndShowsOutput(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fake-goqueue")
	if err := os.WriteFile(bin, []byte(fakeGoqueue), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, check := range []bool{false, true} {
		r := &recorder{TB: t}
		p := Start(r, bin, Options{CheckExit: check})
		if p.URL != "http://127.0.0.1:1" || p.Kafka != "127.0.0.1:2" || p.Addr() != "127.0.0.1:1" {
			t.Fatalf("URL %q, Kafka %q, Addr %q", p.URL, p.Kafka, p.Addr())
		}
		r.cleanup()
		if p.Alive() {
			t.Fatal("alive after the cleanup")
		}
		if !check {
			if len(r.errors) != 0 || len(r.logs) != 0 {
				t.Fatalf("without CheckExit: errors %q, logs %q", r.errors, r.logs)
			}
			continue
		}
		if len(r.errors) != 2 || !strings.Contains(r.errors[0], "exit status 3") || !strings.Contains(r.errors[1], "panic") {
			t.Fatalf("errors %q, want the exit status and the panic", r.errors)
		}
		if len(r.logs) != 1 || !strings.Contains(r.logs[0], "on stdout too") || !strings.Contains(r.logs[0], "panic: boom") {
			t.Fatalf("logs %q, want the output of both streams", r.logs)
		}
	}
}

// A binary that exits before listening fails Start with its output.
func TestStartReportsAnEarlyExit(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fake-goqueue")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho 'bad flag' >&2\nexit 2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	msg := fails(t, func(tb testing.TB) {
		r := tb.(*recorder)
		defer r.cleanup()
		Start(tb, bin, Options{})
	})
	if !strings.Contains(msg, "exited before listening: exit status 2") || !strings.Contains(msg, "bad flag") {
		t.Fatalf("message %q", msg)
	}
}

// A broker that exits while the test runs (a crash) and a test that then
// fails: the cleanup shows the output of the broker no longer running,
// with its exit status. It showed only those still running, so a
// cluster test whose node had died said only that the node never took
// its group back.
func TestProcCleanupShowsTheOutputOfAnExitedRun(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fake-goqueue")
	script := "#!/bin/sh\necho 'fatal: lost the disk' >&2\nexit 4\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &recorder{TB: t}
	p := Launch(r, bin, Options{CheckExit: true})
	<-p.Exited()
	r.Errorf("node 2 never took its group back")
	r.cleanup()
	if len(r.logs) != 1 || !strings.Contains(r.logs[0], "exit status 4") || !strings.Contains(r.logs[0], "fatal: lost the disk") {
		t.Fatalf("logs %q, want the exited run's output and status", r.logs)
	}
}
