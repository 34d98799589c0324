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
// requests are answered one at a time and in order, as Kafka does.
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
	// is written.
	batches []byte
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
	c.batches = giveBuf(c.batches)
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

// write frames resp as the answer to the request h.
func (c *conn) write(h header, resp kmsg.Response) error {
	b := append(takeBuf(c.out, c.outHint), 0, 0, 0, 0)
	c.outHint = 0
	b = binary.BigEndian.AppendUint32(b, uint32(h.correlation))
	// Flexible responses carry an empty tag section in their header, except
	// ApiVersions, whose header stays v0 so any client can read it.
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		b = append(b, 0)
	}
	b = resp.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.nc.Write(b)
	c.out = giveBuf(b)
	return err
}
