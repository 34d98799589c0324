package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/budget"
)

// writeTimeout bounds the write of one response to a client that stopped
// reading.
const writeTimeout = 30 * time.Second

// conn is one client connection. It is used by its own goroutine only:
// requests are read, served and answered in order, as Kafka does. A
// produce request's batches are written when it is read, but its answer
// waits for their durability (an fsync under fsync=always); while the
// client's next requests are already here, they are read and their
// batches written first, and the waiting answers then go out together
// (answer): the batches written meanwhile share one fsync, and the answers
// one write. kgo keeps up to 5 produce requests in flight on a connection,
// so under fsync=always these come back after one fsync instead of five.
// An answer with nothing to wait for (other policies) goes out at once,
// unless answers before it still wait. A
// reader goroutine reading and decoding one request ahead was tried
// (kfake does so) and made the listener slower: BenchmarkProducePipelined
// took 1.3-4x as long per request, paying for the hand-over between the
// two goroutines and a frame buffer per request in flight.
type conn struct {
	s      *Server
	nc     net.Conn
	host   string // the client's address as the broker saw it
	client string // client ID of the last request
	// authenticated is set by a successful SASL exchange (or at once when
	// the broker has no API keys); saslMech by SaslHandshake, and
	// saslBare by its v0: the next frame is then a bare PLAIN token, not
	// a request (see plainBare).
	authenticated bool
	saslMech      string
	saslBare      bool
	out           []byte // response buffer, reused
	// outHint is the size of the next response when its handler knows it
	// (a fetch), so the response is encoded into a buffer of that size
	// rather than one grown by doubling.
	outHint int
	// batches holds the stored batches a fetch reads, until its response
	// is written; cuts and iov are write's, kept for their capacity.
	batches []byte
	cuts    []fetchCut
	iov     net.Buffers
	// pending are the produce answers not yet written, in request order,
	// each with the wait that completes it.
	pending []pendingAnswer
	// sessions are the fetch sessions opened on the connection (see
	// fetchsession.go); fetches counts its fetches of v7+, their clock.
	sessions map[int32]*fetchSession
	fetches  uint64
	// frameHeld is the budget the frame being served was charged to,
	// and frameBytes its charge, until releaseFrame gives it back.
	frameHeld  *budget.Bytes
	frameBytes int64
	// answerBytes is what the fetch answer being read or written took
	// of the server's answers budget (readFetch), until releaseAnswer.
	answerBytes int64
	// fetchStarved reports that the last read of a fetch found no room
	// in the answers budget (readFetch), so fetchWait looks again soon.
	fetchStarved bool
}

// pendingAnswer is a produce answer waiting for its batches' durability
// (wait), or final but behind one that waits (wait nil). The answer to a
// produce with acks 0 (unanswered) is not sent: if it failed, the
// connection is closed instead (errUnansweredFailure).
type pendingAnswer struct {
	h          header
	resp       *kmsg.ProduceResponse
	unanswered bool
	wait       func()
}

// maxUnauthenticatedRequest bounds a request before the connection has
// authenticated (Kafka's sasl.server.max.receive.size): ApiVersions and
// the SASL exchange are small, and a client no key admits must not make
// the broker hold more.
const maxUnauthenticatedRequest = 512 << 10

// unauthenticatedBytes bounds the bytes of requests held at once over all
// connections not yet authenticated: 64 of the largest, apart from the
// authenticated connections' budget.
const unauthenticatedBytes = 64 * maxUnauthenticatedRequest

// maxPending bounds the answers a connection holds back while it reads
// further requests (Kafka clients keep at most 5 idempotent produce
// requests in flight; others may keep more).
const maxPending = 16

func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	host, _, _ := net.SplitHostPort(nc.RemoteAddr().String())
	c := &conn{s: s, nc: nc, host: host, authenticated: len(s.opts.APIKeys) == 0}
	f := &frames{nc: nc}
	defer f.release()
	defer c.idle()
	// Whatever ends the connection, the waiting answers are completed
	// first (their batches made durable), and sent if they still can be:
	// a bad frame closes the connection after the requests before it.
	defer c.answer()
	defer c.dropSessions()
	for {
		// Answer before the read would block; a request already arriving
		// is read first (its batches join the wait).
		if len(c.pending) >= maxPending || len(c.pending) > 0 && f.buffered() == 0 {
			if err := c.answer(); err != nil {
				return
			}
		}
		deadline := time.Now().Add(s.opts.IdleTimeout)
		nc.SetReadDeadline(deadline)
		if ctx.Err() != nil {
			// Shutting down: the produce answers held are sent
			// (deferred); requests still buffered are dropped unread.
			// Checked after the deadline is set, as interruptAll sets its
			// own after ctx ends.
			return
		}
		limit, held := s.opts.MaxRequestBytes, s.frames
		if !c.authenticated {
			// A budget of their own: clients no key admits cannot
			// spend the authenticated ones'.
			limit, held = min(limit, maxUnauthenticatedRequest), s.unauthFrames
		}
		frame, err := f.next(ctx, deadline, limit, held, c.idle)
		if err != nil {
			if errors.Is(err, errFrame) {
				s.log.Warn("kafka: closing connection", "client", nc.RemoteAddr().String(), "err", err)
			}
			return
		}
		// Given back to the budget it was charged to, authenticated since
		// or not; frame is not used past handle (see releaseFrame).
		c.frameHeld, c.frameBytes = held, int64(len(frame))
		err = c.handle(ctx, frame)
		c.releaseFrame()
		if err != nil {
			switch {
			case errors.Is(err, errNotCaughtUp), errors.Is(err, errUnansweredFailure):
				s.log.Info("kafka: closing connection", "client", nc.RemoteAddr().String(), "err", err)
			case ctx.Err() == nil && !peerGone(err):
				s.log.Warn("kafka: closing connection", "client", nc.RemoteAddr().String(), "err", err)
			}
			return
		}
	}
}

// releaseFrame gives the frame being served back to its budget, once.
// A handler that waits (a JoinGroup for the rebalance, a follower's
// SyncGroup for its leader's: up to --max-rebalance-timeout) calls it
// before it waits, holding copies of what it keeps and no slice of the
// frame: three JoinGroups of 67 MB each waiting for a member that did not
// rejoin held the default 200 MiB for 5 min, and every other Kafka
// client's request past the few bytes left closed its connection.
func (c *conn) releaseFrame() {
	if c.frameHeld != nil {
		c.frameHeld.Give(c.frameBytes)
		c.frameHeld, c.frameBytes = nil, 0
	}
}

// releaseAnswer gives back what the connection's fetch answer took of
// the answers budget, once written (or replaced by another read).
func (c *conn) releaseAnswer() {
	c.s.answers.Give(c.answerBytes)
	c.answerBytes = 0
}

// idle lends what the connection keeps for its next answers to the
// pools, once no request came for idleAfter (see frames.next).
func (c *conn) idle() {
	c.out = lendBuf(c.out)
	c.batches = lendBuf(c.batches)
	c.cuts, c.iov = nil, nil
}

// peerGone reports that err only says the client closed its end, as
// clients do when they are done (an answer then meets a broken pipe or a
// reset): nothing to warn an operator of.
func peerGone(err error) bool {
	for _, gone := range []error{net.ErrClosed, io.EOF, syscall.EPIPE, syscall.ECONNRESET} {
		if errors.Is(err, gone) {
			return true
		}
	}
	return false
}

// handle decodes one request, serves it and writes the response. An error
// closes the connection: the request could not be understood, or the
// client may not make it.
func (c *conn) handle(ctx context.Context, frame []byte) error {
	if c.saslBare {
		return c.plainBare(frame)
	}
	h, req, api, err := c.s.decode(frame)
	if errors.Is(err, errVersion) && h.key == kmsg.ApiVersions.Int16() {
		// The client learns what we speak from the answer (KIP-511).
		if err := c.answer(); err != nil {
			return err
		}
		return c.write(h, unsupportedVersions(c.s))
	}
	if err != nil {
		return err
	}
	// As Kafka, in Java, reads it: ill-formed UTF-8 as U+FFFD. Member IDs
	// are made of it, and a membership is saved as JSON, which would
	// replace those bytes on the way and leave a restored member with an
	// ID it was never given.
	c.client = javaUTF8(h.clientID)
	javaIDs(req)
	if !c.authenticated && !api.beforeAuth {
		return fmt.Errorf("%w: %s before SASL authentication", errFrame, kmsg.NameForKey(h.key))
	}
	if pr, ok := req.(*kmsg.ProduceRequest); ok {
		resp, wait := c.s.startProduce(pr)
		unanswered := pr.Acks == 0
		if wait == nil && unanswered && produceFailed(resp) {
			// The answers before it go out first; then the connection
			// is closed.
			if err := c.answer(); err != nil {
				return err
			}
			return errUnansweredFailure
		}
		if wait == nil && len(c.pending) == 0 {
			// Final already, and nothing before it: answered at once,
			// which frees the client's in-flight slot soonest.
			if unanswered {
				return nil
			}
			return c.write(h, resp)
		}
		c.pending = append(c.pending, pendingAnswer{h, resp, unanswered, wait})
		return nil
	}
	// Any other request is answered after the produce requests before it.
	if err := c.answer(); err != nil {
		return err
	}
	resp, err := api.serve(ctx, c, req)
	defer c.releaseAnswer() // once written, or not
	if resp != nil {
		if werr := c.write(h, resp); werr != nil {
			return werr
		}
	}
	// The response no longer needs the stored batches it was made of.
	if h.key == kmsg.Fetch.Int16() {
		c.batches = keepBatches(c.batches)
	} else {
		c.batches = giveBuf(c.batches)
	}
	return err
}

// javaIDs reads the member and instance IDs (and protocol names, rack) of
// a group request as Kafka, in Java, reads every string: ill-formed UTF-8
// as U+FFFD. A group's membership is saved as JSON (groupsave.go), which
// replaces those bytes: a static member saved with another instance ID
// than the one it sends was not recognised by the next coordinator, and
// its restart rebalanced the group, which waited for the old incarnation.
func javaIDs(req kmsg.Request) {
	id := func(s *string) {
		if s != nil {
			*s = javaUTF8(*s)
		}
	}
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		id(&r.MemberID)
		id(r.InstanceID)
		id(&r.ProtocolType)
		for i := range r.Protocols {
			id(&r.Protocols[i].Name)
		}
	case *kmsg.SyncGroupRequest:
		id(&r.MemberID)
		id(r.InstanceID)
		id(r.ProtocolType)
		id(r.Protocol)
		for i := range r.GroupAssignment {
			id(&r.GroupAssignment[i].MemberID)
		}
	case *kmsg.HeartbeatRequest:
		id(&r.MemberID)
		id(r.InstanceID)
	case *kmsg.LeaveGroupRequest:
		id(&r.MemberID)
		for i := range r.Members {
			id(&r.Members[i].MemberID)
			id(r.Members[i].InstanceID)
		}
	case *kmsg.OffsetCommitRequest:
		id(&r.MemberID)
		id(r.InstanceID)
	case *kmsg.ConsumerGroupHeartbeatRequest:
		id(&r.MemberID)
		id(r.InstanceID)
		id(r.RackID)
	}
}

// errVersion is a request of a version the server does not speak.
var errVersion = fmt.Errorf("%w: unsupported version", errFrame)

// decode parses one request frame into its header and kmsg request, and
// finds its handler. Any error means the frame cannot be answered.
func (s *Server) decode(frame []byte) (header, kmsg.Request, apiHandler, error) {
	h, rest, err := parseHeader(frame)
	if err != nil {
		return h, nil, apiHandler{}, err
	}
	api, ok := s.api(h.key)
	if !ok {
		return h, nil, apiHandler{}, fmt.Errorf("%w: unknown API key %d", errFrame, h.key)
	}
	if h.version < api.min || h.version > api.max {
		return h, nil, apiHandler{}, fmt.Errorf("%w: %s version %d, supported %d..%d", errVersion, kmsg.NameForKey(h.key), h.version, api.min, api.max)
	}
	req := kmsg.RequestForKey(h.key)
	req.SetVersion(h.version)
	if req.IsFlexible() {
		if rest, err = skipTags(rest); err != nil {
			return h, nil, apiHandler{}, err
		}
	}
	if err := req.ReadFrom(rest); err != nil {
		return h, nil, apiHandler{}, fmt.Errorf("%w: %s v%d: %v", errFrame, kmsg.NameForKey(h.key), h.version, err)
	}
	return h, req, api, nil
}

// answer completes the pending produce answers in order and writes them
// with one write; errUnansweredFailure once they are written if a produce
// with acks 0 among them failed.
func (c *conn) answer() error {
	if len(c.pending) == 0 {
		return nil
	}
	b := takeBuf(c.out, 0)
	failed := false
	for i := range c.pending {
		p := &c.pending[i]
		if p.wait != nil {
			p.wait()
		}
		if p.unanswered {
			failed = failed || produceFailed(p.resp)
		} else {
			b = appendFrame(b, p.h, p.resp)
		}
		c.pending[i] = pendingAnswer{} // nor keep the answer for its capacity
	}
	c.pending = c.pending[:0]
	var err error
	if len(b) > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err = c.nc.Write(b)
	}
	c.out = giveBuf(b)
	if err == nil && failed {
		err = errUnansweredFailure
	}
	return err
}

// appendHeader appends the frame header of the answer to h, a response
// like resp, with a size to be filled in (see appendFrame).
func appendHeader(b []byte, h header, resp kmsg.Response) []byte {
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(h.correlation))
	// Flexible responses carry an empty tag section in their header, except
	// ApiVersions, whose header stays v0 so any client can read it.
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		b = append(b, 0)
	}
	return b
}

// appendFrame appends resp framed as the answer to the request h.
func appendFrame(b []byte, h header, resp kmsg.Response) []byte {
	at := len(b)
	b = resp.AppendTo(appendHeader(b, h, resp))
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	return b
}

// write frames resp as the answer to the request h. A fetch response goes
// out as a vector: its encoding, and its batches from where they were read
// (see appendFetch).
func (c *conn) write(h header, resp kmsg.Response) error {
	b := takeBuf(c.out, c.outHint)
	c.outHint = 0
	cuts := c.cuts[:0]
	if fr, ok := resp.(*kmsg.FetchResponse); ok && vectorable(fr) {
		b, cuts = appendFetch(appendHeader(b, h, resp), fr, cuts)
		size := len(b) - 4
		for _, cut := range cuts {
			size += len(cut.bytes)
		}
		binary.BigEndian.PutUint32(b, uint32(size))
	} else {
		b = appendFrame(b, h, resp)
	}
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	var err error
	if len(cuts) == 0 {
		_, err = c.nc.Write(b)
	} else {
		iov, from := c.iov[:0], 0
		for _, cut := range cuts {
			iov = append(iov, b[from:cut.at], cut.bytes)
			from = cut.at
		}
		iov = append(iov, b[from:])
		c.iov = iov
		_, err = iov.WriteTo(c.nc) // consumes a copy of the slice header only
		clear(c.iov)               // nor keep the batches from the pool
		clear(cuts)
	}
	c.cuts = cuts[:0]
	c.out = giveBuf(b)
	return err
}
