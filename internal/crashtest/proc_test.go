package crashtest

import (
	"bufio"
	"bytes"
	"io"
	"os/exec"
	"regexp"
	"sync"
	"testing"
	"time"
)

var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startTimeout bounds how long a start (recovery included) may take.
const startTimeout = 30 * time.Second

// proc is one run of the broker binary.
type proc struct {
	cmd *exec.Cmd
	url string // http://127.0.0.1:port, from the "listening" log line
	log *tail  // its stderr
	// addr receives the address of the "listening" line, once.
	addr chan string
	// exited is closed once the process has exited and its stderr is
	// drained; err is then its exit status. The goroutine that closes it
	// is started by launch and waited for by kill (or the test cleanup).
	exited chan struct{}
	err    error
}

// start runs the binary with args and returns once it logs its address.
func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := launch(t, bin, args...)
	select {
	case a := <-p.addr:
		p.url = "http://" + a
		return p
	case <-p.exited:
		t.Fatalf("broker exited before listening: %v\n%s", p.err, p.log)
	case <-time.After(startTimeout):
		p.kill()
		t.Fatalf("broker did not listen within %v\n%s", startTimeout, p.log)
	}
	return nil
}

// launch runs the binary with args and returns at once; its address comes
// on p.addr if it gets that far. t.Cleanup kills it.
func launch(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: newTail(64 << 10), addr: make(chan string, 1), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.log.Write(line)
			p.log.Write([]byte{'\n'})
			if m := listening.FindSubmatch(line); m != nil {
				select {
				case p.addr <- string(m[1]):
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr) // after an overlong line: never block the broker
		p.err = cmd.Wait()          // after the pipe is drained, as Wait requires
		close(p.exited)
	}()
	t.Cleanup(p.kill)
	return p
}

// kill sends SIGKILL (unless the process already exited) and waits for the
// process and its log reader.
func (p *proc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.exited
}

// alive reports whether the process is still running.
func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// tail keeps the last max bytes written to it, for failure messages.
type tail struct {
	mu  sync.Mutex // guards buf
	buf []byte
	max int
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.Clone(t.buf))
}
