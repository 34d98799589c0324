package kafka_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

var goqueue brokertest.Binary

func TestMain(m *testing.M) {
	code := m.Run()
	goqueue.Cleanup()
	os.Exit(code)
}

var listening = regexp.MustCompile(`msg=listening addr=(\S+) .*kafka_addr=(\S+)`)

// proc is the real goqueue binary serving HTTP and Kafka on 127.0.0.1.
type proc struct {
	t        testing.TB
	cmd      *exec.Cmd
	dir      string
	args     []string
	url      string // http://host:port
	kafka    string // host:port
	mu       sync.Mutex
	log      bytes.Buffer // guarded by mu
	exited   chan struct{}
	waitOnce sync.Once
}

// start runs the binary on a fresh data directory with extra args; the
// test's cleanup stops it.
func start(t testing.TB, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, dir: filepath.Join(t.TempDir(), "data"), args: args}
	p.run()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("goqueue's log:\n%s", p.logs())
		}
	})
	return p
}

func (p *proc) run() {
	t := p.t
	t.Helper()
	args := append([]string{"--addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0", "--data-dir", p.dir}, p.args...)
	p.cmd = exec.Command(goqueue.Path(t), args...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.exited = make(chan struct{})
	found := make(chan [2]string, 1)
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.log.Write(sc.Bytes())
			p.log.WriteByte('\n')
			p.mu.Unlock()
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- [2]string{m[1], m[2]}:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case a := <-found:
		p.url, p.kafka = "http://"+a[0], a[1]
	case <-p.exited:
		p.cmd.Wait()
		t.Fatalf("goqueue exited before listening:\n%s", p.logs())
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("goqueue did not log its addresses in 30 s:\n%s", p.logs())
	}
	p.waitOnce = sync.Once{}
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// stop sends SIGINT and waits for a clean exit.
func (p *proc) stop() {
	p.waitOnce.Do(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			p.t.Errorf("goqueue did not stop in 20 s after SIGINT")
		}
		if err := p.cmd.Wait(); err != nil {
			p.t.Errorf("goqueue exited with %v:\n%s", err, p.logs())
		}
		if l := p.logs(); strings.Contains(l, "panic") {
			p.t.Errorf("goqueue logged a panic:\n%s", l)
		}
	})
}

// restart stops the broker and starts it again on the same directory.
func (p *proc) restart() {
	p.stop()
	p.run()
}

// client is a kgo client of the broker, closed at the test's end.
func (p *proc) client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(p.kafka), kgo.RetryTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
