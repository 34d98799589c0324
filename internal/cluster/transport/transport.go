// Package transport carries Raft messages between nodes: one TCP connection
// per node pair, used in both directions and carrying every group's
// messages, written in batches (one frame per write holds everything queued
// for that peer). The node with the lower ID dials; the other accepts. A
// fault hook lets tests cut links without touching the network.
//
// Heartbeats of busy groups ride in the same frames as everything else, so
// 1,000 groups cost one write per peer per heartbeat interval, not 1,000;
// idle groups quiesce (multiraft) and cost nothing. Keepalive frames make
// Down a failure detector, which quiescing needs to wake groups whose
// leader died.
//
// With Config.TLS every connection is mutual TLS and a peer's certificate
// must name its node's host (tls.go).
//
// The package owns its connections and goroutines; it knows nothing of what
// the messages mean.
package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/internal/budget"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

// Config configures a Transport.
type Config struct {
	NodeID   uint64
	Listener net.Listener      // the cluster listener, already bound
	Peers    map[uint64]string // every other node: ID → address
	// TLS, when set, makes every connection mutual TLS: Certificates is
	// this node's certificate, RootCAs the CA every node's must chain to
	// (tls.go). nil: plain TCP.
	TLS *tls.Config
	// Deliver receives each batch read from a peer, on that peer's reader
	// goroutine. It must not block for long (hand the batch to a loop).
	Deliver func(from uint64, envs []multiraft.Envelope)
	// Unreachable is told when messages to a peer were lost because its
	// connection failed or its queue was full, so Raft probes it gently.
	Unreachable func(peer uint64)
	// Handle answers a Call from another node (call.go); nil refuses
	// calls. It runs on the call's own goroutine and must return once
	// ctx (the transport's) ends.
	Handle func(ctx context.Context, from uint64, req []byte) []byte
	// Boot identifies this process start to the peers (random when 0).
	// Restarted is told when a peer's hello brings a boot other than its
	// last: a peer killed and started again answers keepalives before it
	// could count as down, yet the Raft replicas of its old process are
	// gone (multiraft.Host.PeerRestarted). It must not block.
	Boot        uint64
	Restarted   func(peer uint64)
	QueueLen    int           // envelopes queued per peer (default 4096)
	DialTimeout time.Duration // default 1 s
	// CallBytes bounds the bytes of inbound calls' requests held at once,
	// from their read until their handler returns (default
	// DefaultCallBytes); a call past it is read through, not kept, and
	// refused (the caller's Call returns ErrCallRefused).
	CallBytes int64
	// KeepAlive is how often an idle connection carries an empty frame
	// (default 250 ms); DownAfter is how long without any frame makes a
	// peer count as down (default 2 s, below the election timeout) —
	// the failure detector that wakes quiesced groups.
	KeepAlive time.Duration
	DownAfter time.Duration
	Logger    *slog.Logger // default slog.Default()
}

// Transport is the node's end of every peer connection. Send is safe for
// concurrent use; each peer's connection is owned by its session goroutine.
type Transport struct {
	cfg   Config
	ln    net.Listener     // cfg.Listener, wrapped in TLS if the link is; immutable after New
	peers map[uint64]*peer // immutable after New
	calls *budget.Bytes    // the inbound calls' requests held (Config.CallBytes)

	mu    sync.Mutex
	allow func(from, to uint64) bool // the fault hook; nil allows all

	olderWarned atomic.Bool // a node of an older version was logged
}

// peer is the link to one other node.
type peer struct {
	id    uint64
	addr  string
	out   chan multiraft.Envelope // queued for sending; never closed
	conns chan net.Conn           // accepted connections handed to the session (acceptor side)
	heard atomic.Int64            // unix nanoseconds of the last frame read from the peer
	boot  atomic.Uint64           // the peer's boot in its last hello (0: none yet)
}

// New returns a Transport; Run starts it.
func New(cfg Config) (*Transport, error) {
	if cfg.NodeID == 0 || cfg.Listener == nil || cfg.Deliver == nil {
		return nil, errors.New("transport: NodeID, Listener and Deliver are required")
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = 4096
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = time.Second
	}
	if cfg.CallBytes == 0 {
		cfg.CallBytes = DefaultCallBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 250 * time.Millisecond
	}
	if cfg.DownAfter == 0 {
		cfg.DownAfter = 2 * time.Second
	}
	if cfg.Unreachable == nil {
		cfg.Unreachable = func(uint64) {}
	}
	for cfg.Boot == 0 {
		cfg.Boot = rand.Uint64()
	}
	if cfg.Restarted == nil {
		cfg.Restarted = func(uint64) {}
	}
	t := &Transport{cfg: cfg, peers: map[uint64]*peer{}, calls: budget.New(cfg.CallBytes)}
	if err := t.tlsSetup(); err != nil {
		return nil, err
	}
	now := time.Now().UnixNano() // every peer gets DownAfter to show up
	for id, addr := range cfg.Peers {
		if id == cfg.NodeID {
			continue
		}
		p := &peer{id: id, addr: addr, out: make(chan multiraft.Envelope, cfg.QueueLen), conns: make(chan net.Conn, 1)}
		p.heard.Store(now)
		t.peers[id] = p
	}
	return t, nil
}

// SetFault installs the fault hook: a message from → to (either direction
// through this node) is carried only if allow returns true. nil heals all.
func (t *Transport) SetFault(allow func(from, to uint64) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.allow = allow
}

func (t *Transport) allowed(from, to uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.allow == nil || t.allow(from, to)
}

// Send queues envelopes for their destinations (the node of Msg.To, a
// replica ID: multiraft.NodeOf). It never blocks: a
// full queue drops the message and reports the peer unreachable, which Raft
// tolerates by design.
func (t *Transport) Send(envs []multiraft.Envelope) {
	for _, e := range envs {
		to := multiraft.NodeOf(e.Msg.GetTo())
		p, ok := t.peers[to]
		if !ok || !t.allowed(t.cfg.NodeID, to) {
			continue
		}
		select {
		case p.out <- e:
		default:
			t.cfg.Unreachable(to)
		}
	}
}

// Down returns the peers no frame has come from for DownAfter.
func (t *Transport) Down() []uint64 { return t.Silent(t.cfg.DownAfter) }

// sawBoot records the boot in p's hello and reports a new one.
func (t *Transport) sawBoot(p *peer, boot uint64) {
	if old := p.boot.Swap(boot); old != 0 && old != boot {
		t.cfg.Logger.Info("transport: peer restarted", "peer", p.id)
		t.cfg.Restarted(p.id)
	}
}

// Silent returns the peers no frame has come from for d.
func (t *Transport) Silent(d time.Duration) []uint64 {
	cutoff := time.Now().Add(-d).UnixNano()
	var down []uint64
	for id, p := range t.peers {
		if p.heard.Load() < cutoff {
			down = append(down, id)
		}
	}
	return down
}

// Run accepts and dials connections and moves messages until ctx ends; it
// closes the listener and returns after every goroutine it started ended.
func (t *Transport) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		<-ctx.Done()
		t.ln.Close()
		return nil
	})
	g.Go(func() error { return t.accept(ctx) })
	for _, p := range t.peers {
		g.Go(func() error { return t.session(ctx, p) })
	}
	err := g.Wait()
	// A connection a handshake handed over as the sessions ended was
	// never served, so nothing closed it: its peer, which had this
	// process's hello, kept it open and silent, taking the node for up
	// (and a restart of it for none) until the failure detector's
	// DownAfter.
	for _, p := range t.peers {
		select {
		case c := <-p.conns:
			c.Close()
		default:
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (t *Transport) accept(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("transport: accept: %w", err)
		}
		wg.Add(1)
		go func() { // the handshake must not hold up the accept loop
			defer wg.Done()
			t.handshake(ctx, c)
		}()
	}
}

// handshake reads an inbound connection's hello and hands it to its peer's
// session, replacing the connection that session had.
func (t *Transport) handshake(ctx context.Context, c net.Conn) {
	c.SetDeadline(time.Now().Add(t.cfg.DialTimeout))
	magic, from, err := readGreeting(c)
	p, ok := t.peers[from]
	if err == nil && ok {
		err = t.verifyPeer(c, from)
	}
	var boot uint64
	if err == nil && ok && magic == helloMagic && from < t.cfg.NodeID {
		boot, err = readBoot(c)
	}
	switch {
	case errors.Is(err, errOlderPeer):
		// Worth an operator's look on any link, once: the older node
		// dials again every few seconds.
		if t.olderWarned.CompareAndSwap(false, true) {
			t.cfg.Logger.Warn("transport: refused a connection", "remote", c.RemoteAddr().String(), "err", err)
		}
	case err != nil && t.cfg.TLS != nil && !errors.Is(err, io.EOF):
		// On a TLS link a refusal is worth an operator's look: a node
		// with the wrong certificate, or something that is no node.
		t.cfg.Logger.Warn("transport: refused a connection", "remote", c.RemoteAddr().String(), "node", from, "err", err)
	}
	if err == nil && ok && magic == callMagic {
		t.answer(ctx, from, c)
		return
	}
	if err != nil || !ok || from > t.cfg.NodeID {
		// Only a lower ID dials us; anything else is a stranger.
		c.Close()
		return
	}
	if _, err := c.Write(appendHello(nil, t.cfg.NodeID, t.cfg.Boot)); err != nil {
		c.Close()
		return
	}
	t.sawBoot(p, boot)
	c.SetDeadline(time.Time{})
	select {
	case old := <-p.conns: // a newer connection supersedes one not yet taken
		old.Close()
	default:
	}
	select {
	case p.conns <- c:
	case <-ctx.Done():
		c.Close()
	}
}

// session keeps one connection to p alive: it dials (lower ID) or waits for
// the peer to dial (higher ID), then runs the connection until it fails,
// and starts again.
func (t *Transport) session(ctx context.Context, p *peer) error {
	backoff := 50 * time.Millisecond
	var lastErr string // logged once until it changes: a peer down is retried for as long as it is
	for ctx.Err() == nil {
		c, err := t.connect(ctx, p)
		if err != nil {
			if msg := err.Error(); msg != lastErr && ctx.Err() == nil {
				lastErr = msg
				t.cfg.Logger.Debug("transport: cannot connect", "peer", p.id, "err", err)
				var verr *tls.CertificateVerificationError
				if errors.As(err, &verr) {
					t.cfg.Logger.Warn("transport: peer's certificate refused", "peer", p.id, "err", err)
				}
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff, lastErr = 50*time.Millisecond, ""
		t.serve(ctx, p, c)
	}
	return nil
}

func (t *Transport) connect(ctx context.Context, p *peer) (net.Conn, error) {
	if t.cfg.NodeID > p.id {
		select {
		case c := <-p.conns:
			return c, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c, err := t.dial(ctx, p)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(t.cfg.DialTimeout))
	if _, err := c.Write(appendHello(nil, t.cfg.NodeID, t.cfg.Boot)); err != nil {
		c.Close()
		return nil, err
	}
	// On a TLS link the peer's refusal of our certificate surfaces here
	// (TLS 1.3 finishes the dialer's handshake first).
	id, boot, err := readHello(c)
	if err != nil || id != p.id {
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("transport: node %d at %s: %w", p.id, p.addr, err)
		}
		return nil, fmt.Errorf("transport: %s is not node %d but node %d", p.addr, p.id, id)
	}
	t.sawBoot(p, boot)
	c.SetDeadline(time.Time{})
	return c, nil
}

// serve runs a connection: a reader delivering inbound frames, and this
// goroutine writing batches, until either fails or ctx ends.
func (t *Transport) serve(ctx context.Context, p *peer, c net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the reader; owned by serve, which waits for it
		defer wg.Done()
		defer cancel()
		t.read(p, c)
	}()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	t.write(ctx, p, c)
	c.Close()
	wg.Wait()
}

func (t *Transport) read(p *peer, c net.Conn) {
	r := bufio.NewReaderSize(c, 64<<10)
	var buf []byte
	for {
		envs, b, err := readFrame(r, buf)
		buf = b
		if err != nil {
			return
		}
		if cap(buf) > 2*frameTarget {
			buf = nil // a large message's frame: not kept for the connection's life
		}
		if !t.allowed(p.id, t.cfg.NodeID) {
			continue
		}
		p.heard.Store(time.Now().UnixNano())
		if len(envs) > 0 {
			t.cfg.Deliver(p.id, envs)
		}
	}
}

// write sends everything queued for p, a batch per write.
func (t *Transport) write(ctx context.Context, p *peer, c net.Conn) {
	var batch []multiraft.Envelope
	var buf []byte
	keepAlive := time.NewTicker(t.cfg.KeepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keepAlive.C:
			batch = batch[:0] // an empty frame: "still here"
		case e := <-p.out:
			batch = append(batch[:0], e)
		}
	drain:
		for len(batch) < 4096 {
			select {
			case e := <-p.out:
				batch = append(batch, e)
			default:
				break drain
			}
		}
		var err error
		buf, err = eachFrame(buf, batch, func(frame []byte) error {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, err := c.Write(frame)
			return err
		}, func(err error) {
			t.cfg.Logger.Error("transport: encode", "peer", p.id, "err", err)
		})
		if err != nil {
			t.cfg.Unreachable(p.id)
			return
		}
		if cap(buf) > 2*frameTarget {
			buf = nil // a large message's frame: not kept for the connection's life
		}
	}
}
