// Package kafka serves Apache Kafka's wire protocol over the broker: Kafka
// clients and tools (librdkafka and kcat, franz-go, sarama, the Java client)
// produce, fetch and manage topics on GoQueue unchanged. It owns the
// listener, its connections and the Kafka column of the error table;
// topics, logs, offsets and idempotent producers' sequences stay the
// broker's. One file per API key; requests and responses are kmsg types.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/budget"
	"github.com/abd-ulbasit/goqueue/internal/listen"
)

// Defaults of Options.
const (
	DefaultMaxRequestBytes = 100 << 20 // Kafka's socket.request.max.bytes
	DefaultMaxFetchBytes   = 55 << 20  // Kafka's fetch.max.bytes (the broker's)
	// DefaultMaxDecodingBytes is Options.MaxDecodingBytes's default: two
	// requests of DefaultMaxRequestBytes.
	DefaultMaxDecodingBytes = 2 * DefaultMaxRequestBytes
	// DefaultMaxFetchMemory is Options.MaxFetchMemory's default: about
	// four fetches of DefaultMaxFetchBytes.
	DefaultMaxFetchMemory = 256 << 20
	DefaultIdleTimeout    = 10 * time.Minute
	// maxFetchWait caps a fetch's max wait, so a shutdown never waits on a
	// client's whim.
	maxFetchWait = 30 * time.Second
)

// Options configure a Server. Zero values take the defaults.
type Options struct {
	MaxRequestBytes int32 // a larger request frame closes the connection
	// MaxFetchBytes bounds a fetch's answer whatever it asks (at least
	// one batch goes out): the batches are read into memory and held
	// until written.
	MaxFetchBytes int32
	// MaxDecodingBytes bounds the bytes of request frames held at once
	// over every connection, from the first byte read to the answer
	// (Kafka's queued.max.request.bytes); a frame past it closes its
	// connection, and the client retries. At least MaxRequestBytes.
	MaxDecodingBytes int64
	// MaxFetchMemory bounds the bytes of fetch answers held at once over
	// every connection, from their read to their write: a fetch takes
	// what is left of it, up to its own bound (MaxFetchBytes), and
	// answers with what that holds (nothing when it is spent: the fetch
	// waits for its max wait as for new data, then answers empty, and
	// the client fetches again). At least MaxFetchBytes.
	MaxFetchMemory int64
	IdleTimeout    time.Duration // a connection silent this long is closed
	TLS            *tls.Config   // nil: plaintext
	// APIKeys are the broker's API keys as configured: KEY (full access)
	// or KEY:RULES (scoped, see the README). When any is set a connection
	// must authenticate, with SASL PLAIN (any user name), before anything
	// but ApiVersions and the SASL requests; the password is a
	// full-access key. A scoped key is refused: the listener does not
	// check scopes, and it compared passwords with whole entries, so a
	// scoped key's holder who sent "KEY:RULES" had full access.
	APIKeys []string
	NodeID  int32
	Logger  *slog.Logger
	Cluster Cluster // nil: a single broker (see cluster.go)
	// DrainTimeout is how long Serve, once its context ends, lets each
	// connection finish the requests it has read (0: DefaultDrainTimeout).
	DrainTimeout time.Duration
	// Conns bounds the connections open at once, shared with the broker's
	// other listeners; one over it is closed at once. nil: no bound.
	Conns *listen.Conns
}

// DefaultDrainTimeout is Options.DrainTimeout's default, the broker's
// --shutdown-timeout's.
const DefaultDrainTimeout = 10 * time.Second

// Server is the Kafka listener. Its state: the broker (shared), the
// producer table (its own lock) and the open connections (mu).
type Server struct {
	b       *broker.Broker
	appends batchWriter // b, or a test's stand-in
	opts    Options     // immutable after New
	log     *slog.Logger
	groups  *groups
	// frames bounds the request bytes held over every authenticated
	// connection, unauthFrames over the others.
	frames, unauthFrames *budget.Bytes
	// answers bounds the fetch answers held over every connection
	// (Options.MaxFetchMemory).
	answers *budget.Bytes

	// sessionParts counts the partitions of every connection's fetch
	// sessions (fetchsession.go).
	sessionParts atomic.Int64

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // guarded by mu
	closed bool                  // guarded by mu
	wg     sync.WaitGroup        // one per connection goroutine
}

// batchWriter writes produced batches: broker.Broker's WriteBatch, whose
// durable waits for the batch's fsync when its topic promises one.
type batchWriter interface {
	WriteBatch(topic string, partition int32, batch []byte) (base int64, durable func() error, err error)
}

// New returns a server over b and makes b refuse HTTP members of groups
// that have Kafka members, and describe its classic groups as they are
// here (members, generation, the rebalance in progress).
func New(b *broker.Broker, opts Options) *Server {
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if opts.MaxFetchBytes <= 0 {
		opts.MaxFetchBytes = DefaultMaxFetchBytes
	}
	if opts.MaxDecodingBytes <= 0 {
		opts.MaxDecodingBytes = DefaultMaxDecodingBytes
	}
	opts.MaxDecodingBytes = max(opts.MaxDecodingBytes, int64(opts.MaxRequestBytes))
	if opts.MaxFetchMemory <= 0 {
		opts.MaxFetchMemory = DefaultMaxFetchMemory
	}
	opts.MaxFetchMemory = max(opts.MaxFetchMemory, int64(opts.MaxFetchBytes))
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{b: b, appends: b, opts: opts, log: log, groups: newGroups(b), frames: budget.New(opts.MaxDecodingBytes),
		answers:      budget.New(opts.MaxFetchMemory),
		unauthFrames: budget.New(unauthenticatedBytes),
		conns:        make(map[net.Conn]struct{})}
	b.SetExternalGroupViews(s.groups.view)
	return s
}

// Serve accepts connections on ln until ctx ends, then closes ln, lets each
// connection finish the request it is serving and answer the produce
// requests it holds (a produce written but cut before its answer would be
// sent again by the client, twice in the log unless the producer is
// idempotent) for up to DrainTimeout, closes every connection and returns
// once every goroutine it started has returned. Requests still in the
// connection's buffer are dropped unread (nothing of them is written). A
// Fetch long poll answers at once when ctx ends; a JoinGroup or SyncGroup
// waiting for a rebalance, and the other requests that stop with ctx, are
// cut (the connection closes and clients retry elsewhere or later). It
// returns nil after ctx ends, or the accept error that stopped it.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// Out of file descriptors, Accept fails until connections close: that
	// must not stop the listener (nor, with it, the broker).
	ln = listen.Patient(ln, s.log)
	if s.opts.TLS != nil {
		ln = tls.NewListener(ln, s.opts.TLS)
	}
	// Everything below stops with ctx, or when accepting fails.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.groups.run(ctx)
	}()
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		s.interruptAll()
	})
	defer stop()
	var err error
	for {
		var c net.Conn
		c, err = ln.Accept()
		if err != nil {
			break
		}
		addr := c.RemoteAddr()
		if s.opts.Conns.Take(addr) != listen.Admitted {
			// Nothing to answer before a request, which is not read:
			// the client sees the connection close and tries again.
			c.Close()
			continue
		}
		if !s.track(c) {
			s.opts.Conns.Give(addr)
			c.Close()
			break
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.opts.Conns.Give(addr)
			defer s.untrack(c)
			s.serveConn(ctx, c)
		}()
	}
	stopped := ctx.Err() != nil
	cancel()
	ln.Close()
	s.interruptAll()
	drained := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(drained)
	}()
	drain := s.opts.DrainTimeout
	if drain <= 0 {
		drain = DefaultDrainTimeout
	}
	timer := time.NewTimer(drain)
	defer timer.Stop()
	select {
	case <-drained:
	case <-timer.C:
		s.closeAll() // a client not reading its answers
		<-drained
	}
	if stopped || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// interruptAll refuses new connections and wakes every connection's read:
// each then answers what it has read and closes (serveConn).
func (s *Server) interruptAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.conns {
		c.SetReadDeadline(time.Now())
	}
}

// closeAll closes every connection and refuses new ones.
func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
}
