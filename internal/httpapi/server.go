// Package httpapi serves the broker over HTTP/JSON: it turns requests into
// broker calls and broker answers and errors into the wire types of package
// api. It owns no broker state; what it owns is the mapping (routes, request
// decoding, the error → status table) and the readiness flag.
package httpapi

import (
	"bytes"
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/budget"
	"github.com/abd-ulbasit/goqueue/internal/console"
	"github.com/abd-ulbasit/goqueue/internal/metrics"
)

// Options configure the HTTP layer. Zero values take the defaults noted.
type Options struct {
	MaxBodyBytes int64         // largest request body; default 16 MiB
	MaxWait      time.Duration // cap on a fetch's wait_ms; default 30 s
	Version      string        // reported by /version; default "dev"
	Logger       *slog.Logger  // default slog.Default()
	// MaxHeaderBytes, if positive, refuses a request whose request line
	// and headers take more (431 HEADERS_TOO_LARGE); the http.Server must
	// read that much, as with MaxHeaderBytes of HeaderReadLimit(it).
	MaxHeaderBytes int
	// APIKeys, if any, are required on every route (X-API-Key or
	// Authorization: Bearer) except /healthz, /livez and /readyz, which
	// AuthHealth closes too. An entry is KEY (full access) or KEY:RULES,
	// a scoped key (see ParseAPIKey and authz.go).
	APIKeys    []string
	AuthHealth bool
	// MaxBatchMessages caps the messages of one JSON publish; default
	// 100,000. Each message costs the broker far more memory than its
	// bytes in the body (a 16 MiB body of empty messages once held
	// 5.59 M of them and took 2.1 GB).
	MaxBatchMessages int
	// MaxDecodingBytes caps the bytes of request bodies held at once over
	// all requests; past it a request gets a retriable 429 with
	// Retry-After. Default 128 MiB; at least MaxBodyBytes.
	MaxDecodingBytes int64
	// MaxFetchMemory caps the bytes of fetch answers (GET
	// /topics/{t}/partitions/{p}/messages), as encoded, and of group
	// polls' and stream deliveries' messages, held at once over all
	// requests until written: an answer that does not fit is refused
	// with a retriable 429 (a poll's messages handed back; a stream
	// subscription's handed back and polled again later). Default
	// 256 MiB; at least the largest fetch max_bytes (16 MiB).
	MaxFetchMemory int64
	// MetricsGroupPartitions adds per group × partition series to
	// /metrics (see metrics.Options).
	MetricsGroupPartitions bool
	// Cluster is the broker's cluster member; nil for a single broker
	// (GET /cluster then answers NOT_CLUSTERED).
	Cluster Cluster
	// StreamWriteTimeout bounds the write of each stream frame: a client
	// that stops reading its stream has it closed after this. Default
	// 2 min (the server's write timeout is a request's, which a stream
	// outlives).
	StreamWriteTimeout time.Duration
	// StreamReadTimeout bounds the arrival of each stream frame once its
	// header has come (between frames a stream may idle): a client that
	// stops in the middle of a frame has its stream closed after this.
	// Default 1 min (the broker's --read-timeout).
	StreamReadTimeout time.Duration
}

// Defaults for Options.
const (
	DefaultMaxBodyBytes     = 16 << 20
	DefaultMaxWait          = 30 * time.Second
	DefaultMaxBatchMessages = 100_000
	DefaultMaxDecodingBytes = 128 << 20
	DefaultMaxFetchMemory   = 256 << 20
)

// DefaultStreamWriteTimeout is Options.StreamWriteTimeout's default, the
// broker's --write-timeout's; DefaultStreamReadTimeout StreamReadTimeout's,
// its --read-timeout's.
const (
	DefaultStreamWriteTimeout = 2 * time.Minute
	DefaultStreamReadTimeout  = time.Minute
)

// Server is the HTTP handler of one broker.
type Server struct {
	b    *broker.Broker
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux // immutable after New
	// metrics, keys and spec are immutable after New.
	metrics *metrics.Metrics
	keys    []apiKey
	spec    []byte // /openapi.json
	ui      *console.Handler
	bodies  *budget.Bytes
	answers *budget.Bytes // the records fetch answers hold (Options.MaxFetchMemory)
	// draining is set once shutdown begins; /readyz then answers 503 so load
	// balancers stop sending new work.
	draining atomic.Bool
	// streams are the streams being served (stream.go).
	streams *streams
	// roundRobin spreads keyless messages over the partitions this node
	// leads, in a cluster (routePublish).
	roundRobin atomic.Uint32
}

// handlerFunc is a route's handler: it writes a success itself, or returns
// the error to send.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// New returns the handler for b, which must be open (recovered).
func New(b *broker.Broker, opts Options) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	if opts.StreamWriteTimeout <= 0 {
		opts.StreamWriteTimeout = DefaultStreamWriteTimeout
	}
	if opts.StreamReadTimeout <= 0 {
		opts.StreamReadTimeout = DefaultStreamReadTimeout
	}
	if opts.MaxBatchMessages <= 0 {
		opts.MaxBatchMessages = DefaultMaxBatchMessages
	}
	if opts.MaxDecodingBytes <= 0 {
		opts.MaxDecodingBytes = DefaultMaxDecodingBytes
	}
	opts.MaxDecodingBytes = max(opts.MaxDecodingBytes, opts.MaxBodyBytes)
	if opts.MaxFetchMemory <= 0 {
		opts.MaxFetchMemory = DefaultMaxFetchMemory
	}
	opts.MaxFetchMemory = max(opts.MaxFetchMemory, maxFetchMaxBytes)
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{b: b, opts: opts, log: opts.Logger, mux: http.NewServeMux(),
		metrics: metrics.New(b, opts.Version, metrics.Options{GroupPartitions: opts.MetricsGroupPartitions, Cluster: opts.Cluster}), keys: parseKeys(opts.APIKeys),
		bodies: budget.New(opts.MaxDecodingBytes), answers: budget.New(opts.MaxFetchMemory), ui: console.New(), streams: newStreams()}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.pattern, s.handle(s.coordinated(rt)))
	}
	s.spec = s.openAPISpec()
	return s
}

type route struct {
	pattern string
	h       handlerFunc
}

// routes is the table of every endpoint this package serves.
func (s *Server) routes() []route {
	return append([]route{
		{"GET /healthz", s.healthz},
		{"GET /livez", s.livez},
		{"GET /readyz", s.readyz},
		{"GET /version", s.version},
		{"GET /metrics", s.serveMetrics},
		{"GET /openapi.json", s.openAPI},
		{"GET /cluster", s.cluster},
		{"POST /topics", s.createTopic},
		{"GET /topics", s.listTopics},
		{"GET /topics/{topic}", s.describeTopic},
		{"DELETE /topics/{topic}", s.deleteTopic},
		{"POST /topics/{topic}/partitions", s.addPartitions},
		{"PATCH /topics/{topic}", s.alterTopic},
		{"POST /topics/{topic}/messages", s.publish},
		{"POST /topics/{topic}/batches", s.publishBatches},
		{"POST /producers", s.newProducer},
		{"GET /topics/{topic}/partitions/{partition}/messages", s.fetch},
		{"GET /groups/{group}/lag-history", s.lagHistory},
		{"GET /groups/{group}/rebalances", s.rebalanceHistory},
		{"GET " + console.Prefix, s.console},
		{"GET " + api.StreamPath, s.stream},
	}, s.groupRoutes()...)
}

// Drain marks the server as shutting down: /readyz answers 503 from now on.
func (s *Server) Drain() { s.draining.Store(true) }

// ServeHTTP routes r. Unknown paths get a coded 404 and known paths with the
// wrong method a coded 405 (with Allow), never ServeMux's plain text.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, pattern := s.mux.Handler(r)
	// Clean as sent, escaped: a group ID may hold a '/' (team%2F, a%2F%2Fb),
	// which unescaped read as an unclean path and was refused (404).
	if pattern == "" || !isClean(r.URL.EscapedPath()) {
		s.serve(w, r, "", s.unrouted)
		return
	}
	s.serve(w, r, pattern, s.mux.ServeHTTP)
}

// unrouted answers a request no pattern matched. It asks the mux what it
// would have said (404, 405 or a redirect to the clean path) and says it
// with a coded body.
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request) {
	rec := newRecorder()
	h, _ := s.mux.Handler(r)
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		s.writeError(w, r, api.ErrMethodNotAllowed.Withf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, rec.header.Get("Allow")))
	case http.StatusNotFound:
		s.writeError(w, r, api.ErrNotFound.Withf("no route for %s %s", r.Method, r.URL.Path))
	default:
		// The mux would redirect to the cleaned path (for "..", "." or "//"
		// segments) with an HTML body. A client of a JSON API gains nothing
		// from following it: a redirected POST may lose its body and a
		// cleaned "/topics/.." names another resource entirely. Refuse it.
		s.writeError(w, r, api.ErrNotFound.Withf("no route for %s %s: paths must be clean (no empty, \".\" or \"..\" segments)", r.Method, r.URL.Path).
			WithDetail("path", r.URL.Path))
	}
}

// isClean reports whether p is already in the form the mux would redirect
// to: rooted, without empty, "." or ".." segments (a trailing slash is
// kept, as the mux keeps it). For an unclean path the mux reports the
// pattern of the cleaned one but serves a redirect.
func isClean(p string) bool {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// recorder keeps what a handler writes: status, header and body (a
// status of 0 means nothing was written).
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// crossOrigin refuses the writes a page of another site makes a browser
// send (a POST of text/plain needs no CORS preflight): without API keys,
// any web page its user opens could otherwise create topics, publish or
// reset offsets on a broker on localhost. It judges by Sec-Fetch-Site and
// Origin, which only browsers send, so other clients are unaffected.
var crossOrigin = http.NewCrossOriginProtection()

// handle adapts a handlerFunc: it writes the returned error and turns a
// panic into a logged INTERNAL error, so one bad request cannot take the
// broker down.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				s.writeError(w, r, api.ErrInternal.Withf("internal error"))
			}
		}()
		if err := crossOrigin.Check(r); err != nil {
			s.writeError(w, r, api.ErrForbidden.Withf("cross-origin %s refused: the broker takes writes only from its own origin (the console) or from clients that are not browsers", r.Method).
				WithDetail("origin", r.Header.Get("Origin")))
			return
		}
		if err := authorize(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}
