package testkit

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Options says how Launch and Start run the binary.
type Options struct {
	// Dir is the data directory (--data-dir); "" means a fresh one under
	// t.TempDir(). Restart keeps it.
	Dir string
	// Addr and KafkaAddr are the listen addresses (--addr, --kafka-addr);
	// "" means 127.0.0.1:0, a free port, read back from the broker's log.
	Addr, KafkaAddr string
	// Args are more flags, given after the ones above.
	Args []string
	// Shell, if set, runs the binary through sh -c after this prefix, for
	// limits only a shell sets: "ulimit -n 64;".
	Shell string
	// Env is added to the binary's environment.
	Env []string
	// StartTimeout bounds Start's wait for the "listening" line, recovery
	// of the data directory included; 0 means 60 s.
	StartTimeout time.Duration
	// CheckExit makes the test's cleanup fail the test if the broker, still
	// running when the test ends, does not exit 0 after SIGTERM or logged a
	// panic.
	CheckExit bool
}

// stopTimeout bounds Stop's wait for an exit after SIGTERM. The broker
// drains requests and syncs its files first; on a loaded machine that can
// take seconds, never this long.
const stopTimeout = 20 * time.Second

// logKeep is how much of a Proc's output it keeps: the end of it, which is
// what a failure message needs.
const logKeep = 1 << 20

// Proc is the goqueue binary running as a child process. Its methods are for
// the test's goroutine; Log is safe from any goroutine, and so are Exited,
// Listening and Alive while no Restart runs. Every Proc is stopped by the
// test's cleanup.
type Proc struct {
	// URL is the HTTP API's base URL, e.g. http://127.0.0.1:41234, and Kafka
	// the Kafka listener's host:port ("" if it has none), both from the
	// "listening" line. Start and Restart set them; a restart may change
	// them.
	URL, Kafka string
	// Dir is the data directory; it survives Restart.
	Dir string

	t    testing.TB
	bin  string
	opts Options
	log  *tail // the output of every run of this Proc
	cur  *run  // the latest run
}

// run is one execution of the binary. Its reader goroutine (see read) owns
// url, kafka and err until it closes listening (url, kafka) or exited (err).
type run struct {
	cmd        *exec.Cmd
	listening  chan struct{}
	exited     chan struct{}
	url, kafka string
	err        error
}

// Launch runs bin (Binary.Path) with opts and returns at once; Listening
// tells when it serves. The test's cleanup stops it (SIGTERM, then SIGKILL
// after 20 s), checks its exit if Options.CheckExit says so and, if the
// test failed, logs its output, that of a run which ended before the
// test's end included.
func Launch(t testing.TB, bin string, opts Options) *Proc {
	t.Helper()
	dir := opts.Dir
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "data")
	}
	p := &Proc{Dir: dir, t: t, bin: bin, opts: opts, log: &tail{max: logKeep}}
	p.launch()
	t.Cleanup(func() {
		alive := p.Alive()
		err := p.Stop()
		if alive && opts.CheckExit {
			if err != nil {
				t.Errorf("testkit: goqueue's exit after SIGTERM: %v", err)
			}
			if strings.Contains(p.Log(), "panic") {
				t.Errorf("testkit: goqueue logged a panic")
			}
		}
		switch {
		case !t.Failed():
		case alive:
			t.Logf("goqueue's output (pid %d):\n%s", p.cur.cmd.Process.Pid, p.Log())
		default:
			// Ended before the test did, by the test or on its own (a
			// crash): its output is what says which.
			t.Logf("goqueue's output (pid %d, not running at the test's end; exit: %v):\n%s", p.cur.cmd.Process.Pid, err, p.Log())
		}
	})
	return p
}

// Start is Launch that waits until the binary serves and sets URL and
// Kafka. It fails the test if the binary exits first or does not serve
// within Options.StartTimeout.
func Start(t testing.TB, bin string, opts Options) *Proc {
	t.Helper()
	p := Launch(t, bin, opts)
	p.waitListening()
	return p
}

func (p *Proc) launch() {
	p.t.Helper()
	addr, kafka := p.opts.Addr, p.opts.KafkaAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if kafka == "" {
		kafka = "127.0.0.1:0"
	}
	args := append([]string{"--addr", addr, "--kafka-addr", kafka, "--data-dir", p.Dir}, p.opts.Args...)
	cmd := exec.Command(p.bin, args...)
	if p.opts.Shell != "" {
		quoted := make([]string, 0, len(args)+1)
		for _, a := range append([]string{p.bin}, args...) {
			quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
		}
		cmd = exec.Command("sh", "-c", p.opts.Shell+" exec "+strings.Join(quoted, " "))
	}
	if len(p.opts.Env) > 0 {
		cmd.Env = append(os.Environ(), p.opts.Env...)
	}
	// One pipe for stdout and stderr keeps their lines in order.
	r, w, err := os.Pipe()
	if err != nil {
		p.t.Fatalf("testkit: %v", err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close() // the child has its copy; EOF comes when it exits
	if err != nil {
		r.Close()
		p.t.Fatalf("testkit: start %s: %v", p.bin, err)
	}
	p.cur = &run{cmd: cmd, listening: make(chan struct{}), exited: make(chan struct{})}
	go p.cur.read(r, p.log)
}

var (
	listeningLine = regexp.MustCompile(`\bmsg=listening\b`)
	urlField      = regexp.MustCompile(`\burl=(\S+)`)
	kafkaField    = regexp.MustCompile(`\bkafka_addr=(\S+)`)
)

// read copies the run's output into log until the process exits, notes the
// "listening" line, then waits for the process. Stop and Kill wait for it
// through exited.
func (r *run) read(out *os.File, log *tail) {
	br := bufio.NewReaderSize(out, 64<<10)
	seen := false
	for {
		line, err := br.ReadBytes('\n')
		log.Write(line)
		if !seen && listeningLine.Match(line) {
			seen = true
			if m := urlField.FindSubmatch(line); m != nil {
				r.url = string(m[1])
			}
			if m := kafkaField.FindSubmatch(line); m != nil {
				r.kafka = strings.Trim(string(m[1]), `"`)
			}
			close(r.listening)
		}
		if err != nil {
			break
		}
	}
	out.Close()
	r.err = r.cmd.Wait()
	close(r.exited)
}

func (p *Proc) waitListening() {
	p.t.Helper()
	timeout := p.opts.StartTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.cur.listening:
		p.URL, p.Kafka = p.cur.url, p.cur.kafka
		if p.URL == "" {
			p.Kill()
			p.t.Fatalf("testkit: no url in goqueue's listening line:\n%s", p.Log())
		}
	case <-p.cur.exited:
		p.t.Fatalf("testkit: goqueue exited before listening: %v\n%s", p.cur.err, p.Log())
	case <-timer.C:
		p.Kill()
		p.t.Fatalf("testkit: goqueue did not listen within %v:\n%s", timeout, p.Log())
	}
}

// Addr is the HTTP listener's host:port, URL without its scheme.
func (p *Proc) Addr() string {
	_, hostport, _ := strings.Cut(p.URL, "://")
	return hostport
}

// Listening is closed once the current run logged that it serves.
func (p *Proc) Listening() <-chan struct{} { return p.cur.listening }

// Exited is closed once the current run has exited and its output is read;
// Err is then its exit status.
func (p *Proc) Exited() <-chan struct{} { return p.cur.exited }

// Err is the current run's exit status (nil for status 0) once Exited is
// closed, and nil before.
func (p *Proc) Err() error {
	select {
	case <-p.cur.exited:
		return p.cur.err
	default:
		return nil
	}
}

// Alive reports whether the current run has not exited.
func (p *Proc) Alive() bool {
	select {
	case <-p.cur.exited:
		return false
	default:
		return true
	}
}

// Pid is the current run's process ID.
func (p *Proc) Pid() int { return p.cur.cmd.Process.Pid }

// Log returns the output (stderr and stdout) of every run so far, or its
// last MiB.
func (p *Proc) Log() string { return p.log.String() }

// Signal sends sig to the current run, if it is still running.
func (p *Proc) Signal(sig os.Signal) {
	if p.Alive() {
		_ = p.cur.cmd.Process.Signal(sig)
	}
}

// Stop ends the current run as an operator would, with SIGTERM, waits for
// it and returns its exit status: nil after a clean exit. A run that does
// not exit within 20 s is killed, and Stop says so. Stopping an exited run
// returns its status again.
func (p *Proc) Stop() error {
	if !p.Alive() {
		return p.cur.err
	}
	p.Signal(syscall.SIGTERM)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.cur.exited:
		return p.cur.err
	case <-timer.C:
		p.Kill()
		return fmt.Errorf("no exit %v after SIGTERM; killed", stopTimeout)
	}
}

// Kill ends the current run with SIGKILL, as a crash would, and waits for
// it.
func (p *Proc) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.cur.exited
}

// Restart stops the current run (which must exit cleanly) and starts the
// binary again with the same options and data directory. URL and Kafka are
// the new run's: with port 0 they change.
func (p *Proc) Restart() {
	p.t.Helper()
	if err := p.Stop(); err != nil {
		p.t.Fatalf("testkit: stop before a restart: %v\n%s", err, p.Log())
	}
	p.log.Write([]byte("--- testkit: restart ---\n"))
	p.launch()
	p.waitListening()
}
