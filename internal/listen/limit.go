package listen

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Conns bounds the connections open at once over the listeners sharing it:
// each costs a file descriptor (which files and the other listeners need
// too) and a goroutine with its buffers, and a client that opens
// thousands and sends nothing holds them as long as the listener's idle
// timeout lets it (a stream, for ever). Safe for concurrent use; a nil
// *Conns admits everything.
type Conns struct {
	max  int64 // immutable
	open atomic.Int64
}

// NewConns returns a bound of max connections.
func NewConns(max int) *Conns { return &Conns{max: int64(max)} }

// Take counts a new connection in, or reports false (counting nothing) if
// max are open.
func (c *Conns) Take() bool {
	if c == nil {
		return true
	}
	if c.open.Add(1) > c.max {
		c.open.Add(-1)
		return false
	}
	return true
}

// Give counts a connection taken out once it closed.
func (c *Conns) Give() {
	if c != nil {
		c.open.Add(-1)
	}
}

// Max is the bound.
func (c *Conns) Max() int { return int(c.max) }

// Open is the count of connections taken and not given back.
func (c *Conns) Open() int { return int(c.open.Load()) }

// maxRefusing bounds the refused connections being answered at once;
// beyond, a refused connection is closed without an answer.
const maxRefusing = 64

// refuseWithin bounds the answer to a refused connection, and the wait for
// the client to read it and close its end.
const refuseWithin = time.Second

// limited is a listener whose connections conns counts.
type limited struct {
	net.Listener
	conns    *Conns
	answer   []byte // immutable: what a refused connection is sent
	refusing atomic.Int32
	wg       sync.WaitGroup // the refusals being answered
}

// Limit wraps ln so that its connections count against conns. A
// connection beyond the bound is not returned: it is sent answer (unless
// empty or more than maxRefusing are being answered), then closed. The
// others are returned wrapped so that closing them gives their place
// back. Close waits for the refusals being answered, up to refuseWithin.
func Limit(ln net.Listener, conns *Conns, answer []byte) net.Listener {
	return &limited{Listener: ln, conns: conns, answer: answer}
}

func (l *limited) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.conns.Take() {
			return &conn{Conn: c, conns: l.conns}, nil
		}
		l.refuse(c)
	}
}

func (l *limited) Close() error {
	err := l.Listener.Close()
	l.wg.Wait()
	return err
}

// refuse answers c, a connection over the bound, and closes it. The answer
// is written, the write side shut and what the client sends read until it
// closes its end, so the answer is not lost to the reset that closing a
// socket with unread bytes sends; all within refuseWithin.
func (l *limited) refuse(c net.Conn) {
	if len(l.answer) == 0 || l.refusing.Add(1) > maxRefusing {
		if len(l.answer) > 0 {
			l.refusing.Add(-1)
		}
		c.Close()
		return
	}
	l.wg.Go(func() {
		defer l.refusing.Add(-1)
		defer c.Close()
		c.SetDeadline(time.Now().Add(refuseWithin))
		if _, err := c.Write(l.answer); err != nil {
			return
		}
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	})
}

// conn is an accepted connection that gives its place back once closed.
// It passes on what net/http and writers look for in a *net.TCPConn
// (ReadFrom, for sendfile; CloseWrite).
type conn struct {
	net.Conn
	conns *Conns
	once  sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.conns.Give)
	return err
}

func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
