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

// conn is one client connection. It is used by its own goroutine only:
// requests are read, served and answered one at a time and in order, as
// Kafka does. A pipelining client (kgo keeps up to 5 produce requests in
// flight) loses nothing by it: its next requests wait in the socket and
// the buffered reader, and are read at once. A reader goroutine reading
// and decoding one request ahead was tried (kfake does so) and made the
// listener slower: BenchmarkProducePipelined took 1.3-4x as long per
// request, paying for the hand-over between the two goroutines and a
// frame buffer per request in flight.
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

func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	host, _, _ := net.SplitHostPort(nc.RemoteAddr().String())
	c := &conn{s: s, nc: nc, host: host, authenticated: len(s.opts.APIKeys) == 0}
	r := bufio.NewReaderSize(nc, 64<<10)
	var buf []byte
	for {
		nc.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout))
		frame, err := readFrame(r, buf, s.opts.MaxRequestBytes)
		if err != nil {
			if errors.Is(err, errFrame) {
				s.log.Warn("kafka: closing connection", "client", nc.RemoteAddr().String(), "err", err)
			}
			return
		}
		if cap(frame) <= 1<<20 {
			buf = frame // keep a modest buffer for the next request
		}
		if err := c.handle(ctx, frame); err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				s.log.Warn("kafka: closing connection", "client", nc.RemoteAddr().String(), "err", err)
			}
			return
		}
	}
}

// handle decodes one request, serves it and writes the response. An error
// closes the connection: the request could not be understood, or the
// client may not make it.
func (c *conn) handle(ctx context.Context, frame []byte) error {
	h, req, api, err := c.s.decode(frame)
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
