package chaostest

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

var (
	longRun   = flag.Bool("chaos.long", os.Getenv("GOQUEUE_CHAOS_LONG") == "1", "run the long chaos test, 1,000,000 messages per assignor (also GOQUEUE_CHAOS_LONG=1)")
	seedFlag  = flag.Uint64("chaos.seed", 0, "seed of the schedule of joins, leaves and kills; 0 takes one from the clock")
	msgsFlag  = flag.Int("chaos.messages", 0, "messages per assignor; 0 means 25,000, or 1,000,000 with -chaos.long")
	rateFlag  = flag.Int("chaos.rate", 0, "messages published per second; 0 means 5,000, or 20,000 with -chaos.long")
	logsFlag  = flag.String("chaos.logs", "", "keep the workers' event logs in this directory (default: a temporary one)")
	goqueue   binary
	listening = regexp.MustCompile(`msg=listening addr=(\S+)`)
)

func TestMain(m *testing.M) {
	if url := os.Getenv(envWorkerURL); url != "" {
		os.Exit(worker(url, os.Getenv(envWorkerLog), os.Getenv(envWorkerGroup), os.Getenv(envWorkerAssignor)))
	}
	flag.Parse()
	code := m.Run()
	goqueue.cleanup()
	os.Exit(code)
}

// binary is the goqueue binary, built once per test run without -race so
// that the broker runs at production speed.
type binary struct {
	once sync.Once
	dir  string // removed by TestMain
	path string
	err  error
}

func (b *binary) get(t *testing.T) string {
	t.Helper()
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "goqueue-chaostest-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "goqueue")
		if out, err := exec.Command("go", "build", "-o", b.path, "github.com/abd-ulbasit/goqueue/cmd/goqueue").CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func (b *binary) cleanup() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// startBroker runs the binary on 127.0.0.1:0 with args and returns its URL
// once it logs its address. t.Cleanup kills it and waits for it.
func startBroker(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(goqueue.get(t), append([]string{"--addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if m := listening.FindSubmatch(sc.Bytes()); m != nil {
				select {
				case addr <- string(m[1]):
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
	})
	select {
	case a := <-addr:
		return "http://" + a
	case <-done:
		t.Fatal("broker exited before listening")
	case <-time.After(30 * time.Second):
		t.Fatal("broker did not listen within 30 s")
	}
	return ""
}
