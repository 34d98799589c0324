package conformance_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
)

// The Kafka wire as the Kafka target speaks it: a listener of net.Pipe
// connections (the suite's bubble allows no real socket), a client that
// frames kmsg requests and reads their responses, and the mapping of Kafka
// error codes back to the one error table.

// pipeListener hands the server ends of net.Pipe connections to
// kafka.Server.Serve.
type pipeListener struct {
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// dial connects to the server behind l.
func (l *pipeListener) dial() (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		client.Close()
		server.Close()
		return nil, net.ErrClosed
	}
}

// kclient is one Kafka client connection: requests one at a time, each in
// the newest version both the server (by ApiVersions) and kmsg speak.
type kclient struct {
	nc       net.Conn
	r        *bufio.Reader
	f        *kmsg.RequestFormatter
	corr     int32
	versions map[int16]int16 // the server's max version per key
}

func dialKafka(l *pipeListener) (*kclient, error) {
	nc, err := l.dial()
	if err != nil {
		return nil, err
	}
	c := &kclient{nc: nc, r: bufio.NewReader(nc), f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("conformance")),
		versions: map[int16]int16{kmsg.ApiVersions.Int16(): 3}}
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "conformance", "1"
	resp, err := c.do(req)
	if err != nil {
		nc.Close()
		return nil, err
	}
	av := resp.(*kmsg.ApiVersionsResponse)
	if av.ErrorCode != 0 {
		nc.Close()
		return nil, fmt.Errorf("api versions: %v", kerr.ErrorForCode(av.ErrorCode))
	}
	for _, k := range av.ApiKeys {
		c.versions[k.ApiKey] = k.MaxVersion
	}
	return c, nil
}

func (c *kclient) Close() error { return c.nc.Close() }

// do sends req and reads its response.
func (c *kclient) do(req kmsg.Request) (kmsg.Response, error) {
	max, ok := c.versions[req.Key()]
	if !ok {
		return nil, fmt.Errorf("the server does not offer %s", kmsg.NameForKey(req.Key()))
	}
	req.SetVersion(min(max, req.MaxVersion()))
	c.corr++
	if _, err := c.nc.Write(c.f.AppendRequest(nil, req, c.corr)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.r, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.r, body); err != nil {
		return nil, err
	}
	if len(body) < 4 || int32(binary.BigEndian.Uint32(body)) != c.corr {
		return nil, fmt.Errorf("%s: response of another correlation ID", kmsg.NameForKey(req.Key()))
	}
	body = body[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		var err error
		if body, err = skipTagSection(body); err != nil {
			return nil, err
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("%s v%d response: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp, nil
}

// skipTagSection skips a response header's tagged fields.
func skipTagSection(b []byte) ([]byte, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 {
		return nil, errors.New("bad tag count")
	}
	b = b[w:]
	for range n {
		if _, w = binary.Uvarint(b); w <= 0 {
			return nil, errors.New("bad tag key")
		}
		b = b[w:]
		size, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < size {
			return nil, errors.New("bad tag size")
		}
		b = b[w+int(size):]
	}
	return b, nil
}

// kip848Codes are the Kafka codes the front end says some table codes with
// to KIP-848 members, beyond the table's own Kafka column: a stale or
// fenced epoch is FENCED_MEMBER_EPOCH on a heartbeat and STALE_MEMBER_EPOCH
// on a commit, a live instance ID is UNRELEASED_INSTANCE_ID, and a
// heartbeat Kafka refuses before it looks at the group (a bad field, an
// epoch below -2) is INVALID_REQUEST.
var kip848Codes = map[int16][]*api.Error{
	kerr.InvalidRequest.Code:       {api.ErrInvalidArgument, api.ErrStaleGeneration},
	kerr.FencedMemberEpoch.Code:    {api.ErrStaleGeneration, api.ErrFencedMember},
	kerr.StaleMemberEpoch.Code:     {api.ErrStaleGeneration},
	kerr.UnreleasedInstanceID.Code: {api.ErrDuplicateInstance},
}

// codeError maps a Kafka error code back to the error table: the codes
// whose Kafka column (or KIP-848 dialect) is code are the candidates, and
// the message, which the front end starts with the table's code where the
// response has one, picks among them. Without a message the first
// candidate in table order is taken. A code outside the table is returned
// as Kafka's own error, which no scenario expects.
func codeError(code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	var cands []*api.Error
	for _, e := range api.Codes() {
		if e.Kafka == code {
			cands = append(cands, e)
		}
	}
	cands = append(cands, kip848Codes[code]...)
	text := ""
	if msg != nil {
		text = *msg
	}
	name, rest, _ := strings.Cut(text, ":")
	if i := slices.IndexFunc(cands, func(e *api.Error) bool { return e.Code == name }); i >= 0 {
		return cands[i].Withf("%s", strings.TrimSpace(rest))
	}
	if len(cands) > 0 {
		return cands[0].Withf("%s", text)
	}
	return fmt.Errorf("kafka error %v: %s", kerr.ErrorForCode(code), text)
}

// serve runs srv on a fresh pipe listener until the returned stop is
// called; stop waits for Serve to return and reports its error.
func serve(srv interface {
	Serve(context.Context, net.Listener) error
}) (*pipeListener, func() error) {
	ln := newPipeListener()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	return ln, func() error {
		cancel()
		return <-done
	}
}
