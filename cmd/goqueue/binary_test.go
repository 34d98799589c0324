package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"

	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// goqueueBin is the real binary, built once for all of this package's tests
// that run it as a user would; TestMain removes it.
var goqueueBin brokertest.Binary

func TestMain(m *testing.M) {
	code := m.Run()
	goqueueBin.Cleanup()
	os.Exit(code)
}

// proc is one run of the real goqueue binary.
type proc struct {
	cmd    *exec.Cmd
	url    string
	log    *bytes.Buffer // stderr after the "listening" line; complete once exited
	exited chan error
}

var listenLine = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startBinary runs bin and waits for the line that names the address.
func startBinary(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	// Kafka's default port would collide between brokers run at once.
	cmd := exec.Command(bin, append([]string{"--kafka-addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: new(bytes.Buffer), exited: make(chan error, 1)}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
			p.url = "http://" + m[1]
			break
		}
	}
	if p.url == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the binary never logged its address")
	}
	go func() {
		io.Copy(p.log, stderr) // ends when the process exits
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *proc) call(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

func (p *proc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case err := <-p.exited:
		if sig == syscall.SIGTERM && err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.log)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit 20 s after %v", sig)
	}
	http.DefaultClient.CloseIdleConnections()
}

// readAll fetches every message of partition 0.
func (p *proc) readAll(t *testing.T) []api.Message {
	t.Helper()
	var all []api.Message
	for next := int64(0); ; {
		var r api.FetchResponse
		if st := p.call(t, "GET", fmt.Sprintf("/topics/orders/partitions/0/messages?offset=%d&max=1000", next), "", &r); st != 200 {
			t.Fatalf("fetch: %d", st)
		}
		if len(r.Messages) == 0 {
			return all
		}
		all = append(all, r.Messages...)
		next = r.NextOffset
	}
}

// The real binary starts on a temp dir, takes messages, stops on SIGTERM,
// and serves them all again after a restart; after a SIGKILL, every
// acknowledged message is still there too.
func TestBinaryPublishStopRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := goqueueBin.Path(t)
	dir := filepath.Join(t.TempDir(), "data")
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", dir}

	p := startBinary(t, bin, args...)
	if st := p.call(t, "POST", "/topics", `{"name":"orders","partitions":1}`, nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	publish := func(p *proc, from, to int) {
		var msgs []string
		for i := from; i < to; i++ {
			msgs = append(msgs, fmt.Sprintf(`{"value":{"n":%d}}`, i))
		}
		var resp api.PublishResponse
		if st := p.call(t, "POST", "/topics/orders/messages", `{"messages":[`+strings.Join(msgs, ",")+`]}`, &resp); st != 200 || len(resp.Offsets) != to-from {
			t.Fatalf("publish: %d %+v", st, resp)
		}
	}
	publish(p, 0, 100)
	p.stop(t, syscall.SIGTERM)
	if !strings.Contains(p.log.String(), "stopped cleanly") {
		t.Fatalf("no clean stop:\n%s", p.log)
	}

	p = startBinary(t, bin, args...)
	if got := p.readAll(t); len(got) != 100 || string(got[99].Value) != `{"n":99}` {
		t.Fatalf("after restart: %d messages", len(got))
	}
	publish(p, 100, 150)
	p.stop(t, syscall.SIGKILL)

	p = startBinary(t, bin, args...)
	got := p.readAll(t)
	if len(got) != 150 {
		t.Fatalf("after SIGKILL: %d messages, want 150", len(got))
	}
	for i, m := range got {
		if m.Offset != int64(i) || string(m.Value) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	p.stop(t, syscall.SIGTERM)
	if _, err := os.Stat(filepath.Join(dir, "meta.db")); err != nil {
		t.Fatal(err)
	}
}
