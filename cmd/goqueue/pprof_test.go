package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// logRecorder keeps the attributes of every record logged with a message.
type logRecorder struct {
	mu   sync.Mutex
	seen map[string]map[string]string // message → attribute → value
	ch   chan struct{}                // closed at the first "pprof listening"
}

func newLogRecorder() *logRecorder {
	return &logRecorder{seen: map[string]map[string]string{}, ch: make(chan struct{})}
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	attrs := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.seen[r.Message]; !dup && r.Message == "pprof listening" {
		close(l.ch)
	}
	l.seen[r.Message] = attrs
	return nil
}

func (l *logRecorder) attrs(msg string) (map[string]string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.seen[msg]
	return a, ok
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// --pprof-addr serves the profiles on their own listener, without the
// command line, and stops serving them at shutdown.
func TestPprofServedWhenAsked(t *testing.T) {
	before := goleak.IgnoreCurrent()
	rec := newLogRecorder()
	r := startServeLog(t, rec, "--pprof-addr", "127.0.0.1:0")
	<-rec.ch
	attrs, _ := rec.attrs("pprof listening")
	url := "http://" + attrs["pprof_addr"]
	c := &http.Client{Transport: &http.Transport{}}

	if code, body := get(t, c, url+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("GET /debug/pprof/ = %d %q; want 200 with the profiles", code, body)
	}
	if code, body := get(t, c, url+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "goroutine profile") {
		t.Fatalf("GET goroutine profile = %d %q", code, body)
	}
	if code, _ := get(t, c, url+"/debug/pprof/cmdline"); code == http.StatusOK {
		t.Fatal("/debug/pprof/cmdline is served; the command line may hold API keys")
	}
	waitReady(t, c, "http://"+r.addr)
	if code, _ := get(t, c, "http://"+r.addr+"/debug/pprof/"); code == http.StatusOK {
		t.Fatal("the API's listener serves /debug/pprof/")
	}
	c.CloseIdleConnections()
	r.stop(t)
	if _, err := c.Get(url + "/debug/pprof/"); err == nil {
		t.Fatal("pprof still answers after shutdown")
	}
	goleak.VerifyNone(t, before)
}

// Without --pprof-addr no profile is served anywhere.
func TestPprofOffByDefault(t *testing.T) {
	rec := newLogRecorder()
	r := startServeLog(t, rec)
	c := &http.Client{Transport: &http.Transport{}}
	waitReady(t, c, "http://"+r.addr)
	if code, _ := get(t, c, "http://"+r.addr+"/debug/pprof/"); code == http.StatusOK {
		t.Fatal("the API's listener serves /debug/pprof/ with --pprof-addr unset")
	}
	c.CloseIdleConnections()
	r.stop(t)
	if _, ok := rec.attrs("pprof listening"); ok {
		t.Fatal(`"pprof listening" logged with --pprof-addr unset`)
	}
}

func TestPprofAddrMustBeHostPort(t *testing.T) {
	if _, err := parse(t, []string{"--pprof-addr", "6060"}, nil); err == nil || !strings.Contains(err.Error(), "pprof addr") {
		t.Fatalf("--pprof-addr 6060: err = %v; want a pprof addr problem", err)
	}
	if c, err := parse(t, nil, map[string]string{"GOQUEUE_PPROF_ADDR": "localhost:6060"}); err != nil || c.pprofAddr != "localhost:6060" {
		t.Fatalf("GOQUEUE_PPROF_ADDR: %q, %v", c.pprofAddr, err)
	}
}
