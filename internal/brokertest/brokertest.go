// Package brokertest starts a real broker for tests: the broker and its HTTP
// API on 127.0.0.1 in a temporary directory, stopped by t.Cleanup. It owns
// nothing but that one test server.
package brokertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// Server is one running broker. Its methods are for the test goroutine; they
// fail the test (t.Fatal) on setup errors rather than returning them.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234. It stays the same
	// across Restart.
	URL string
	// Dir is the data directory; it survives Restart.
	Dir string

	t      testing.TB
	cfg    broker.Config
	opts   httpapi.Options
	client *http.Client // own transport, so no idle connection outlives the test
	// inFlight counts requests inside the handler, so a test can tell that a
	// long-poll has reached the broker before it acts.
	inFlight atomic.Int64

	// Set while running, nil after Stop.
	b    *broker.Broker
	srv  *http.Server
	h    *httpapi.Server // the handler: its Shutdown ends the consumer streams
	stop context.CancelFunc
	done chan error // the Run and Serve loops' result
}

// Option changes how Start configures the broker.
type Option func(*Server)

// WithConfig edits the broker configuration (Start fills DataDir, the logger
// and small intervals first).
func WithConfig(edit func(*broker.Config)) Option { return func(s *Server) { edit(&s.cfg) } }

// WithHTTP edits the HTTP options.
func WithHTTP(edit func(*httpapi.Options)) Option { return func(s *Server) { edit(&s.opts) } }

// WithDir serves from dir instead of a fresh t.TempDir.
func WithDir(dir string) Option { return func(s *Server) { s.cfg.DataDir = dir } }

// Start starts a broker on 127.0.0.1:0 with a temporary data directory and
// registers its Stop with t.Cleanup. The broker's warnings and errors go to
// t.Log.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.FsyncInterval = 10 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := &Server{
		t:      t,
		cfg:    cfg,
		opts:   httpapi.Options{Logger: cfg.Logger},
		client: &http.Client{Transport: &http.Transport{}},
	}
	for _, o := range opts {
		o(s)
	}
	s.Dir = s.cfg.DataDir
	s.start("127.0.0.1:0")
	t.Cleanup(func() {
		s.Stop()
		s.client.CloseIdleConnections()
	})
	return s
}

func (s *Server) start(addr string) {
	s.t.Helper()
	b, err := broker.Open(s.cfg)
	if err != nil {
		s.t.Fatalf("brokertest: open broker: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		b.Close()
		s.t.Fatalf("brokertest: listen: %v", err)
	}
	s.URL = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	s.b, s.stop, s.done = b, cancel, make(chan error, 2)
	s.h = httpapi.New(b, s.opts)
	s.srv = &http.Server{
		Handler:     s.counting(s.h),
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	go func() { s.done <- b.Run(ctx) }()
	go func() {
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.done <- err
			return
		}
		s.done <- nil
	}()
}

func (s *Server) counting(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// InFlight is the number of requests being handled right now.
func (s *Server) InFlight() int64 { return s.inFlight.Load() }

// WaitInFlight blocks until at least n requests are being handled, or fails
// the test after 10 s.
func (s *Server) WaitInFlight(n int64) {
	s.t.Helper()
	testkit.EventuallyNil(s.t, 10*time.Second, func() error {
		if got := s.inFlight.Load(); got < n {
			return fmt.Errorf("brokertest: %d requests in flight, want %d", got, n)
		}
		return nil
	})
}

// Broker is the running broker, for tests that call it directly.
func (s *Server) Broker() *broker.Broker { return s.b }

// Handler is the running HTTP API (nil after Stop).
func (s *Server) Handler() *httpapi.Server { return s.h }

// Stop shuts the server down as the binary does: stop serving, end
// long-polls, wait for requests in progress, close the broker. Idempotent.
func (s *Server) Stop() {
	s.t.Helper()
	if s.b == nil {
		return
	}
	s.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.t.Errorf("brokertest: shutdown: %v", err)
	}
	if err := s.h.Shutdown(ctx); err != nil { // the consumer streams, which srv no longer tracks
		s.t.Errorf("brokertest: shutdown streams: %v", err)
	}
	for range 2 {
		if err := <-s.done; err != nil {
			s.t.Errorf("brokertest: %v", err)
		}
	}
	if err := s.b.Close(); err != nil {
		s.t.Errorf("brokertest: close broker: %v", err)
	}
	s.b = nil
	s.client.CloseIdleConnections()
}

// Restart stops the broker and starts it again on the same directory and
// address, as a process restart would.
func (s *Server) Restart() {
	s.t.Helper()
	addr := s.URL[len("http://"):]
	s.Stop()
	s.start(addr)
}

// Do sends a request and returns the status and body. body may be nil, a
// []byte or string (sent as is), or any other value (sent as JSON).
func (s *Server) Do(method, path string, body any) (int, []byte) {
	s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatalf("brokertest: marshal request: %v", err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		s.t.Fatalf("brokertest: %v", err)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("brokertest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("brokertest: %s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, out
}

// DoJSON is Do that decodes a non-empty answer into out (if not nil):
// a success into the expected type, an error into an api.ErrorBody.
func (s *Server) DoJSON(method, path string, body, out any) int {
	s.t.Helper()
	status, resp := s.Do(method, path, body)
	if out != nil && len(resp) > 0 {
		if err := json.Unmarshal(resp, out); err != nil {
			s.t.Fatalf("brokertest: %s %s: decode %d answer %q: %v", method, path, status, resp, err)
		}
	}
	return status
}

// Client is the server's HTTP client, for requests Do cannot express
// (concurrent ones, for example).
func (s *Server) Client() *http.Client { return s.client }

// tlogWriter sends the broker's log lines to t.Log.
type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSuffix(p, []byte("\n"))))
	return len(p), nil
}
