package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// pipe is one HTTP/1.1 connection to a broker that carries a producer's
// batch requests back to back, without waiting for their answers (HTTP/1.1
// pipelining: the broker reads and answers the requests of a connection
// one after another, in order). Several requests of one partition can so
// be in flight at once and still reach the broker in the order they were
// written. What a broken connection leaves unanswered is sent again on a
// new one; the batches' sequence numbers make the broker answer a batch it
// already wrote with its first offset instead of writing it twice.
//
// A framed pipe carries the same bodies as PRODUCE frames on the broker's
// stream (api.StreamPath) instead: the broker reads a stream in order too,
// and answers each frame in turn, but parses no request line and headers
// per batch (the default; ProducerConfig.NoStream).
//
// Only the producer's dispatcher (run) calls write; read, the pipe's
// goroutine, reads the answers and hands each, in the order written, to
// answer. shut closes the connection and waits for read to return.
type pipe struct {
	conn   net.Conn
	br     *bufio.Reader // the answers; used by read only
	bw     *bufio.Writer // used by write only
	head   []byte        // the request head being written; used by write only
	id     uint32        // the last frame's id; used by write only
	framed bool          // immutable: PRODUCE frames on the stream, not HTTP requests
	// noStream: the broker has no stream, or one without PRODUCE (an
	// older broker); immutable.
	noStream bool
	host     string // immutable
	apiKey   string // immutable
	answer   func(r *request, resp *api.PublishResponse, err error)
	// silence is how long the broker may leave every request waiting
	// unanswered (ProducerConfig.RequestTimeout); immutable.
	silence time.Duration

	mu      sync.Mutex
	waiting []*request // written and not answered, oldest first from first; guarded by mu
	first   int        // guarded by mu
	closed  bool       // no more writes: read has failed or is failing what waits; guarded by mu
	exited  chan struct{}
}

// dialer opens the connection of a pipe (net.Dialer's DialContext; tests
// give one that breaks connections).
type dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// openPipe connects to base (an http:// base URL) and starts reading: a
// framed pipe if stream is set and the broker has the stream, else one of
// HTTP requests.
func openPipe(ctx context.Context, dial dialer, base, apiKey string, stream bool, silence time.Duration, answer func(*request, *api.PublishResponse, error)) (*pipe, error) {
	c := &pipe{host: strings.TrimPrefix(base, "http://"), apiKey: apiKey, answer: answer, silence: silence, exited: make(chan struct{})}
	if stream {
		conn, br, h, err := openStream(ctx, dial, base, apiKey, nil)
		var refused *api.Error
		switch {
		case err == nil && !api.HeaderHasToken(h, api.StreamFramesHeader, api.StreamProduceFrames):
			conn.Close() // a stream for consumers only
			c.noStream = true
		case err == nil:
			c.conn, c.br, c.framed = conn, br, true
		case errors.Is(err, errNoStream):
			c.noStream = true
		case !errors.As(err, &refused):
			return nil, err
		}
		// Refused (a broker shutting down, something else answering at
		// that address): HTTP requests say what is wrong, if anything.
	}
	if c.conn == nil {
		conn, err := dial(ctx, "tcp", c.host)
		if err != nil {
			return nil, &connError{err: err}
		}
		c.conn, c.br = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	c.bw = bufio.NewWriterSize(c.conn, 64<<10)
	go c.read()
	return c, nil
}

// write sends body to topic — as a POST of path, or a PRODUCE frame —
// with r as its request: r is answered exactly once, by read, whether the
// write succeeds or not. It reports false, having written nothing and
// with r not to be answered, when the pipe is closed already.
func (c *pipe) write(r *request, topic, path string, body []byte) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.waiting = append(c.waiting, r)
	if len(c.waiting)-c.first == 1 {
		c.awaitLocked()
	}
	c.mu.Unlock()
	var h []byte
	if c.framed {
		c.id = nextFrameID(c.id)
		h = api.AppendStreamHeader(c.head[:0], api.StreamProduce, c.id, 2+len(topic)+len(body))
		h = api.AppendStreamProduceHead(h, topic)
	} else {
		h = c.httpHead(path, len(body))
	}
	c.head = h
	_, err := c.bw.Write(h)
	if err == nil {
		_, err = c.bw.Write(body)
	}
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		// read then fails r and every request written after it.
		c.conn.Close()
	}
	return true
}

// httpHead is the head of a POST of path with a body of n bytes.
func (c *pipe) httpHead(path string, n int) []byte {
	h := append(c.head[:0], "POST "...)
	h = append(h, path...)
	h = append(h, " HTTP/1.1\r\nHost: "...)
	h = append(h, c.host...)
	h = append(h, "\r\nContent-Type: "+api.BatchesContentType+"\r\nAccept: application/json\r\nContent-Length: "...)
	h = strconv.AppendInt(h, int64(n), 10)
	if c.apiKey != "" {
		h = append(h, "\r\nX-API-Key: "...)
		h = append(h, c.apiKey...)
	}
	return append(h, "\r\n\r\n"...)
}

// awaitLocked gives the broker silence from now to send the next answer
// owed: a broker stopped (SIGSTOP), hung, or cut off without the
// connection breaking sends none, and the connection, whose requests
// would otherwise wait for ever, fails; they go again, to the leader then
// known. A broker that answers at all within it keeps the connection.
// It bounds write too, which has no deadline of its own: a broker that
// stopped reading leaves it blocked once the socket's buffers are full,
// until read fails and closes the connection. c.mu must be held.
func (c *pipe) awaitLocked() { c.conn.SetReadDeadline(time.Now().Add(c.silence)) }

// answered clears the deadline once an answer is read whole and no other
// is owed: an idle pipe waits for nothing.
func (c *pipe) answered() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first == len(c.waiting) {
		c.conn.SetReadDeadline(time.Time{})
	}
}

// pop takes the oldest request waiting for its answer, or nil.
func (c *pipe) pop() *request {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first == len(c.waiting) {
		return nil
	}
	r := c.waiting[c.first]
	c.waiting[c.first] = nil
	c.first++
	// The rest of this answer (an HTTP answer's body), and the next, have
	// as long again; answered cleared it once nothing is owed.
	c.awaitLocked()
	switch {
	case c.first == len(c.waiting):
		c.waiting, c.first = c.waiting[:0], 0
	case c.first >= 32 && 2*c.first >= len(c.waiting):
		n := copy(c.waiting, c.waiting[c.first:])
		clear(c.waiting[n:])
		c.waiting, c.first = c.waiting[:n], 0
	}
	return r
}

// read hands each answer to answer, in order, until the connection fails
// or the broker closes it; then it fails every request still waiting with
// a connError (they may or may not have been written): all but the first,
// and the first too if answers came before, blameless.
func (c *pipe) read() {
	defer close(c.exited)
	var answers int
	var err error
	if c.framed {
		answers, err = c.readFrames()
	} else {
		answers, err = c.readHTTP()
	}
	c.conn.Close()
	c.mu.Lock()
	c.closed = true
	left := c.waiting[c.first:]
	c.waiting, c.first = nil, 0
	c.mu.Unlock()
	for i, r := range left {
		c.answer(r, nil, &connError{err: err, blameless: i > 0 || answers > 0})
	}
}

// readHTTP hands on the answers of an HTTP pipe until one cannot be read;
// it returns how many it handed on and why it stopped.
func (c *pipe) readHTTP() (int, error) {
	br := c.br
	var (
		resp    api.PublishResponse
		body    []byte
		err     error
		answers int
	)
	for err == nil {
		var hr *http.Response
		if hr, err = http.ReadResponse(br, nil); err != nil {
			break
		}
		r := c.pop()
		if r == nil {
			err = fmt.Errorf("answer (HTTP %d) to no request", hr.StatusCode)
			hr.Body.Close()
			break
		}
		var aerr error
		if hr.StatusCode/100 != 2 {
			aerr = decodeError(hr)
		} else if body, err = readBody(hr.Body, body[:0]); err != nil {
			aerr = &connError{err: err}
		} else if jerr := json.Unmarshal(body, &resp); jerr != nil {
			aerr = &connError{err: fmt.Errorf("decode batches answer: %w", jerr)}
		}
		if _, derr := io.Copy(io.Discard, hr.Body); derr != nil && err == nil {
			err = derr
		}
		hr.Body.Close()
		if hr.Close && err == nil {
			err = errBrokerClosed
		}
		c.answer(r, &resp, aerr)
		c.answered()
		answers++
	}
	return answers, err
}

// nextFrameID is the id after id, never 0 (an ERROR of id 0 refuses the
// stream itself).
func nextFrameID(id uint32) uint32 {
	if id++; id == 0 {
		id = 1
	}
	return id
}

// readFrames hands on the answers of a framed pipe (PRODUCED, or the
// ERROR that refused a frame, each with its frame's id) until one cannot
// be read; it returns how many it handed on and why it stopped.
func (c *pipe) readFrames() (int, error) {
	rd := api.NewStreamReader(c.br, maxStreamFrame)
	var (
		resp    api.PublishResponse
		buf     []byte
		answers int
		due     uint32 // the id of the answer due next
	)
	for {
		f, next, err := rd.ReadShared(buf)
		if err != nil {
			return answers, err
		}
		buf = next
		due = nextFrameID(due)
		if f.Type == api.StreamError && f.ID == 0 {
			// The stream itself was refused (a frame too large or
			// malformed): the broker was reading the first frame not yet
			// answered, which gets the refusal as an HTTP request would.
			e, perr := api.ParseStreamError(f.Payload)
			if perr != nil {
				return answers, fmt.Errorf("ERROR frame: %s", f.Payload)
			}
			if r := c.pop(); r != nil {
				c.answer(r, nil, e)
				answers++
			}
			return answers, e
		}
		if f.ID != due || f.Type != api.StreamProduced && f.Type != api.StreamError {
			return answers, fmt.Errorf("%v frame %d where the answer to frame %d was due", f.Type, f.ID, due)
		}
		r := c.pop()
		if r == nil {
			return answers, fmt.Errorf("%v frame %d answers no request", f.Type, f.ID)
		}
		var aerr error
		if f.Type == api.StreamProduced {
			var perr error
			if resp.Offsets, perr = api.ParseStreamProduced(resp.Offsets, f.Payload); perr != nil {
				aerr = &connError{err: perr}
			}
		} else if e, perr := api.ParseStreamError(f.Payload); perr != nil {
			aerr = &connError{err: perr}
		} else {
			aerr = e
		}
		c.answer(r, &resp, aerr)
		c.answered()
		answers++
	}
}

// errBrokerClosed is a pipe the broker closed after an answer.
var errBrokerClosed = errors.New("the broker closed the connection")

// readBody appends what rd holds to dst.
func readBody(rd io.Reader, dst []byte) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := rd.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// isClosed reports whether no more can be written on c.
func (c *pipe) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// shut closes the connection and waits until read has answered every
// request written.
func (c *pipe) shut() {
	c.conn.Close()
	<-c.exited
}
