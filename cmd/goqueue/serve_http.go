package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/internal/listen"
)

// newHTTPServer configures the server against slow and greedy clients:
// headers must arrive within the read header timeout and the whole request
// within the read timeout; an answer must be written within the write
// timeout (which outlasts a long-poll); idle connections close; header
// blocks are bounded (bodies are bounded by httpapi). A header block over
// --max-header-bytes is refused by the handler with a coded 431 (the API
// through httpapi.Options.MaxHeaderBytes, the starting handler through
// httpapi.LimitHeaders), not by net/http's plain-text one: net/http reads
// up to httpapi.HeaderReadLimit of it, and cuts off only what is larger.
func newHTTPServer(cfg *config, h http.Handler, log *slog.Logger, base context.Context) *http.Server {
	return &http.Server{
		Handler:           h,
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: cfg.readHeaderTimeout,
		ReadTimeout:       cfg.readTimeout,
		WriteTimeout:      cfg.writeTimeout,
		IdleTimeout:       cfg.idleTimeout,
		MaxHeaderBytes:    httpapi.HeaderReadLimit(int(cfg.maxHeaderBytes)),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// defaultMaxConns caps --max-connections 0's bound: each idle connection
// costs a goroutine and its buffers (about 20 KiB), whatever the open-file
// limit allows.
const defaultMaxConns = 10000

// connLimit is the bound of client connections: --max-connections, or
// three quarters of the open-file limit up to defaultMaxConns. The other
// quarter is the files' (segments, meta.db) and the cluster link's: out
// of file descriptors, a broker can neither accept nor open a segment.
func connLimit(cfg *config) int {
	if cfg.maxConns > 0 {
		return cfg.maxConns
	}
	n := openFileLimit()
	if n == 0 || n > defaultMaxConns*4/3 {
		return defaultMaxConns
	}
	return max(int(n*3/4), 1)
}

// minPerAddr is the least connLimitPerAddr derives: a host running a
// few dozen consumers is not refused on a small broker.
const minPerAddr = 16

// connLimitPerAddr is the bound of one client address's connections:
// --max-connections-per-addr, or a quarter of the connection bound, at
// least minPerAddr (and at most the bound). Without it one address took
// every place of --max-connections, and no other client was served.
func connLimitPerAddr(cfg *config, limit int) int {
	if cfg.maxConnsPerAddr > 0 {
		return cfg.maxConnsPerAddr
	}
	return min(max(limit/4, minPerAddr), limit)
}

// refusedAnswer is what an HTTP connection beyond --max-connections (or
// its address's --max-connections-per-addr) is sent before it is closed
// (a TLS one is closed unanswered: answering would take a handshake).
func refusedAnswer(conns *listen.Conns) func(listen.Refusal) []byte {
	full := refusal(`the broker has ` + strconv.Itoa(conns.Max()) + ` connections open, its --max-connections; retry shortly`)
	addrFull := refusal(`your address has ` + strconv.Itoa(conns.PerAddr()) + ` connections open to the broker, its --max-connections-per-addr; close some or retry shortly`)
	return func(why listen.Refusal) []byte {
		if why == listen.AddrFull {
			return addrFull
		}
		return full
	}
}

// refusal is a 503 UNAVAILABLE answer saying msg, whole.
func refusal(msg string) []byte {
	body := `{"error":{"code":"` + api.ErrUnavailable.Code + `","message":"` + msg + `","retriable":true}}` + "\n"
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// switchHandler serves through the handler last set: the starting handler
// during recovery, then the API.
type switchHandler struct {
	h atomic.Pointer[http.Handler]
}

func (s *switchHandler) set(h http.Handler) { s.h.Store(&h) }

func (s *switchHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}

// starting answers while the broker recovers: alive, not ready.
type starting struct{}

func (starting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/livez" {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write([]byte(`{"error":{"code":"` + api.ErrUnavailable.Code + `","message":"the broker is recovering its data; retry shortly","retriable":true}}` + "\n"))
}
