package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/console"
	"github.com/abd-ulbasit/goqueue/internal/metrics"
)

// openRoutes answer without an API key unless Options.AuthHealth is set:
// load balancers and orchestrators probe them without credentials.
var openRoutes = map[string]bool{"GET /healthz": true, "GET /livez": true, "GET /readyz": true}

// publicRoutes answer without an API key always: the console's static
// files, which hold no data (the browser cannot send a key with a page
// load; the console asks for one and sends it with every API call).
var publicRoutes = map[string]bool{"GET " + console.Prefix: true}

// serve is the middleware around every request, in order: metrics and the
// debug access log (outermost, so they see every answer, refusals included),
// the header limit, the body-size backstop, then authentication. route is
// the matched pattern, or "" for none.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, route string, next func(http.ResponseWriter, *http.Request)) {
	label := route
	if label == "" {
		label = metrics.Unrouted
	}
	start := time.Now()
	done := s.metrics.RequestStarted()
	// Answers echo what the client sent (a topic or group name in an
	// error): a browser must read them as the JSON they are, never sniff
	// them into HTML.
	w.Header().Set("X-Content-Type-Options", "nosniff")
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		code := sw.code
		if code == 0 {
			code = http.StatusOK // nothing written: net/http sends 200
		}
		done(label, code)
		if s.log.Enabled(r.Context(), slog.LevelDebug) { // no argument allocations when quiet
			s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "route", label, "status", code,
				"duration", time.Since(start), "remote", r.RemoteAddr)
		}
	}()
	// Before anything reads the body or upgrades the connection (GET /stream).
	if err := checkHeaderBytes(r, s.opts.MaxHeaderBytes); err != nil {
		s.writeError(sw, r, err)
		return
	}
	// A backstop for handlers that read the body without readBody: no
	// request body is ever read past MaxBodyBytes.
	if r.Body != nil && r.Body != http.NoBody {
		body := &budgetedBody{ReadCloser: http.MaxBytesReader(sw, r.Body, s.opts.MaxBodyBytes), budget: s.bodies}
		defer body.release()
		r.Body = body
	}
	if publicRoutes[route] || (!s.opts.AuthHealth && openRoutes[route]) {
		next(sw, r)
		return
	}
	sc, ok := s.authenticate(r)
	if !ok {
		sw.Header().Set("WWW-Authenticate", `Bearer realm="goqueue"`)
		s.writeError(sw, r, api.ErrUnauthorized.Withf("a valid API key is required (X-API-Key or Authorization: Bearer)"))
		return
	}
	if sc != nil {
		r = r.WithContext(context.WithValue(r.Context(), scopeKey{}, sc)) // checked by handle, once the path is parsed
	}
	next(sw, r)
}

// statusWriter records the status a handler sends. Unwrap lets
// http.ResponseController reach the connection (flushes, deadlines).
type statusWriter struct {
	http.ResponseWriter
	code int // 0 until the header is written
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
