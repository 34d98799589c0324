package faulttest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// goqueue is built on first use and removed by TestMain.
var goqueue brokertest.Binary

func TestMain(m *testing.M) {
	code := m.Run()
	goqueue.Cleanup()
	os.Exit(code)
}

// proc is one run of the real binary.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	mu     sync.Mutex
	log    bytes.Buffer // stderr, guarded by mu
	exited chan error
}

var listenLine = regexp.MustCompile(`msg=listening addr=(\S+)`)

// start runs the binary on dir with args, through sh when shell (a prefix
// such as "ulimit -n 64;") is given, and waits for its listen line.
func start(t *testing.T, dir, shell string, args ...string) *proc {
	t.Helper()
	args = append([]string{"--addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0", "--data-dir", dir}, args...)
	bin := os.Getenv("GOQUEUE_FAULTTEST_BIN") // another build to compare, e.g. before a fix
	if bin == "" {
		bin = goqueue.Path(t)
	}
	cmd := exec.Command(bin, args...)
	if shell != "" {
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		cmd = exec.Command("sh", "-c", shell+" exec "+bin+" "+strings.Join(quoted, " "))
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, exited: make(chan error, 1)}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		p.log.WriteString(sc.Text() + "\n")
		if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
			p.url = "http://" + m[1]
			break
		}
	}
	if p.url == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the binary never logged its address:\n%s", p.log.String())
	}
	go func() {
		io.Copy(p, stderr)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

// logs returns what the broker logged so far.
func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// stop ends the broker with SIGTERM and waits for it.
func (p *proc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// do sends a JSON request and returns the status and body.
func (p *proc) do(method, path string, body any) (int, []byte) {
	p.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			p.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, p.url+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// must sends a request that must answer want, and decodes the answer into out.
func (p *proc) must(want int, method, path string, body, out any) {
	p.t.Helper()
	st, raw := p.do(method, path, body)
	if st != want {
		p.t.Fatalf("%s %s: %d %s, want %d", method, path, st, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			p.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
}

// apiError decodes an error answer.
func apiError(t *testing.T, raw []byte) *api.Error {
	t.Helper()
	var body api.ErrorBody
	if err := json.Unmarshal(raw, &body); err != nil || body.Error == nil {
		t.Fatalf("not an error body: %s", raw)
	}
	return body.Error
}

// publishN publishes n messages of size bytes to partition p of topic, in
// requests of at most 500, and returns how many were answered 200 before the
// first failure with its status and body.
func (p *proc) publishN(topic string, part int32, n, size int, ts int64) (int, int, []byte) {
	val := strings.Repeat("x", size)
	done := 0
	for done < n {
		k := min(500, n-done)
		msgs := make([]map[string]any, k)
		for i := range msgs {
			m := map[string]any{"value": val, "partition": part}
			if ts != 0 {
				m["timestamp"] = ts
			}
			msgs[i] = m
		}
		st, raw := p.do("POST", "/topics/"+topic+"/messages", map[string]any{"messages": msgs})
		if st != http.StatusOK {
			return done, st, raw
		}
		done += k
	}
	return done, http.StatusOK, nil
}

func fmtTopic(name string, partitions int, extra string) string {
	return fmt.Sprintf(`{"name":%q,"partitions":%d%s}`, name, partitions, extra)
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

func mustJSON(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%v in %s", err, raw)
	}
}
