package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// writeTimeout bounds the write of one response to a client that stopped
// reading.
const writeTimeout = 30 * time.Second

// conn is one client connection. Its requests are served one at a time
// and answered in order, as Kafka does, by the connection's goroutine
// (serveConn), which owns every field below; a second goroutine
// (readRequests) reads and decodes the next request meanwhile.
type conn struct {
	s      *Server
	nc     net.Conn
	host   string // the client's address as the broker saw it
	client string // client ID of the last request
	// authenticated is set by a successful SASL exchange (or at once when
	// the broker has no API keys); saslMech by SaslHandshake.
	authenticated bool
	saslMech      string
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
}

// request is one frame as readRequests read and decoded it. The decoded
// request may point into frame (a produce's records do), so the frame is
// the request's until it has been answered.
type request struct {
	frame []byte
	h     header
	req   kmsg.Request
	api   apiHandler
	// err is a decoding error (the request is answered, or not, by
	// handle, then the connection closes) or, with frame nil, the read
	// error that ends the connection.
	err error
}

func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	host, _, _ := net.SplitHostPort(nc.RemoteAddr().String())
	c := &conn{s: s, nc: nc, host: host, authenticated: len(s.opts.APIKeys) == 0}
	// Clients pipeline requests (kgo has up to 5 produce requests in
	// flight per connection): the next one is read and decoded while this
	// goroutine serves the last, so its turn starts at once. Reading stops
	// one request ahead, as Kafka's own broker does.
	reqs := make(chan request)
	free := make(chan []byte, 1) // an answered request's frame, for the next read
	stop := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		c.readRequests(reqs, free, stop)
	}()
	defer func() {
		nc.Close() // ends a read in progress
		close(stop)
		<-read
	}()
	for r := range reqs {
		if r.frame == nil {
			if errors.Is(r.err, errFrame) {
				s.log.Warn("kafka: closing connection", "client", nc.RemoteAddr().String(), "err", r.err)
			}
			return
		}
		if err := c.handle(ctx, r); err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				s.log.Warn("kafka: closing connection", "client", nc.RemoteAddr().String(), "err", err)
			}
			return
		}
		// The connection is idle from its last answer on, not from when the
		// request after it began to be read.
		nc.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout))
		if cap(r.frame) <= keptBuf {
			select {
			case free <- r.frame: // keep a modest buffer for a next request
			default:
			}
		}
	}
}

// readRequests reads and decodes c's requests and sends them on reqs, in
// order, until a read fails (sent with a nil frame) or stop closes. A
// request's frame is read into a buffer from free when one is there.
func (c *conn) readRequests(reqs chan<- request, free <-chan []byte, stop <-chan struct{}) {
	r := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		var buf []byte
		select {
		case buf = <-free:
		default:
		}
		c.nc.SetReadDeadline(time.Now().Add(c.s.opts.IdleTimeout))
		var next request
		next.frame, next.err = readFrame(r, buf, c.s.opts.MaxRequestBytes)
		if next.err == nil {
			next.h, next.req, next.api, next.err = c.s.decode(next.frame)
		}
		select {
		case reqs <- next:
		case <-stop:
			return
		}
		if next.frame == nil {
			return
		}
	}
}

// handle serves one decoded request and writes the response. An error
// closes the connection: the request could not be understood, or the
// client may not make it.
func (c *conn) handle(ctx context.Context, r request) error {
	h, req, api, err := r.h, r.req, r.api, r.err
	if errors.Is(err, errVersion) && h.key == kmsg.ApiVersions.Int16() {
		// The client learns what we speak from the answer (KIP-511).
		return c.write(h, unsupportedVersions(c.s))
	}
	if err != nil {
		return err
	}
	c.client = h.clientID
	if !c.authenticated && !api.beforeAuth {
		return fmt.Errorf("%w: %s before SASL authentication", errFrame, kmsg.NameForKey(h.key))
	}
	resp, err := api.serve(ctx, c, req)
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

// write frames resp as the answer to the request h. A fetch response goes
// out as a vector: its encoding, and its batches from where they were read
// (see appendFetch).
func (c *conn) write(h header, resp kmsg.Response) error {
	b := append(takeBuf(c.out, c.outHint), 0, 0, 0, 0)
	c.outHint = 0
	b = binary.BigEndian.AppendUint32(b, uint32(h.correlation))
	// Flexible responses carry an empty tag section in their header, except
	// ApiVersions, whose header stays v0 so any client can read it.
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		b = append(b, 0)
	}
	cuts := c.cuts[:0]
	if fr, ok := resp.(*kmsg.FetchResponse); ok && vectorable(fr) {
		b, cuts = appendFetch(b, fr, cuts)
	} else {
		b = resp.AppendTo(b)
	}
	size := len(b) - 4
	for _, cut := range cuts {
		size += len(cut.bytes)
	}
	binary.BigEndian.PutUint32(b, uint32(size))
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
