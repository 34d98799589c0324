package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// goqueueBin is the real binary, built once for all of this package's tests
// that run it as a user would; TestMain removes it.
var goqueueBin testkit.Binary

func TestMain(m *testing.M) {
	code := m.Run()
	goqueueBin.Cleanup()
	os.Exit(code)
}

// proc is one real goqueue broker, with this package's HTTP shorthands.
type proc struct{ *testkit.Proc }

// startBinary runs the goqueue binary on dir ("" for a fresh one) with
// args, on free ports of 127.0.0.1, and returns once it serves.
func startBinary(t *testing.T, dir string, args ...string) proc {
	t.Helper()
	return proc{testkit.Start(t, goqueueBin.Path(t), testkit.Options{Dir: dir, Args: args})}
}

func (p proc) call(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, p.URL+path, strings.NewReader(body))
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

// stop ends the broker with SIGTERM, which must be a clean exit.
func (p proc) stop(t *testing.T) {
	t.Helper()
	if err := p.Stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Log())
	}
	http.DefaultClient.CloseIdleConnections()
}

// kill ends the broker with SIGKILL, as a crash would.
func (p proc) kill() {
	p.Kill()
	http.DefaultClient.CloseIdleConnections()
}

// readAll fetches every message of partition 0.
func (p proc) readAll(t *testing.T) []api.Message {
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
	dir := filepath.Join(t.TempDir(), "data")

	p := startBinary(t, dir)
	if st := p.call(t, "POST", "/topics", `{"name":"orders","partitions":1}`, nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	publish := func(p proc, from, to int) {
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
	p.stop(t)
	if !strings.Contains(p.Log(), "stopped cleanly") {
		t.Fatalf("no clean stop:\n%s", p.Log())
	}

	p = startBinary(t, dir)
	if got := p.readAll(t); len(got) != 100 || string(got[99].Value) != `{"n":99}` {
		t.Fatalf("after restart: %d messages", len(got))
	}
	publish(p, 100, 150)
	p.kill()

	p = startBinary(t, dir)
	got := p.readAll(t)
	if len(got) != 150 {
		t.Fatalf("after SIGKILL: %d messages, want 150", len(got))
	}
	for i, m := range got {
		if m.Offset != int64(i) || string(m.Value) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	p.stop(t)
	if _, err := os.Stat(filepath.Join(dir, "meta.db")); err != nil {
		t.Fatal(err)
	}
}
