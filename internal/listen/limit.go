package listen

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Conns bounds the connections open at once over the listeners sharing it:
// each costs a file descriptor (which files and the other listeners need
// too) and a goroutine with its buffers, and a client that opens
// thousands and sends nothing holds them as long as the listener's idle
// timeout lets it (a stream, for ever). It bounds too the connections of
// one client address (an IPv4 address, or an IPv6 /64, what one host is
// given), so that one address cannot take every place and shut every
// other client out. Safe for concurrent use; a nil *Conns admits
// everything.
type Conns struct {
	max, perAddr int64 // immutable; perAddr 0: no bound per address
	open         atomic.Int64
	mu           sync.Mutex
	byAddr       map[netip.Prefix]int64 // guarded by mu; no zero counts
}

// NewConns returns a bound of max connections, and of perAddr connections
// from one address (0: none).
func NewConns(max, perAddr int) *Conns {
	return &Conns{max: int64(max), perAddr: int64(perAddr), byAddr: make(map[netip.Prefix]int64)}
}

// Refusal is why Take refused a connection.
type Refusal int8

const (
	Admitted Refusal = iota // not refused
	Full                    // max connections are open
	AddrFull                // perAddr connections of its address are open
)

func (r Refusal) String() string {
	switch r {
	case Admitted:
		return "admitted"
	case Full:
		return "full"
	case AddrFull:
		return "address full"
	}
	return fmt.Sprintf("Refusal(%d)", int8(r))
}

// Take counts in a new connection from addr (its remote address), or
// refuses it (counting nothing) if max are open, or perAddr from addr's
// address. An address that is not TCP's is not bounded by itself.
func (c *Conns) Take(addr net.Addr) Refusal {
	if c == nil {
		return Admitted
	}
	if c.open.Add(1) > c.max {
		c.open.Add(-1)
		return Full
	}
	if key, ok := addrKey(addr); ok && c.perAddr > 0 {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.byAddr[key] >= c.perAddr {
			c.open.Add(-1)
			return AddrFull
		}
		c.byAddr[key]++
	}
	return Admitted
}

// Give counts out a connection from addr that Take admitted, once it
// closed.
func (c *Conns) Give(addr net.Addr) {
	if c == nil {
		return
	}
	if key, ok := addrKey(addr); ok && c.perAddr > 0 {
		c.mu.Lock()
		if c.byAddr[key]--; c.byAddr[key] <= 0 {
			delete(c.byAddr, key)
		}
		c.mu.Unlock()
	}
	c.open.Add(-1)
}

// addrKey is what addr's connections count against: its IPv4 address, or
// its IPv6 /64.
func addrKey(addr net.Addr) (netip.Prefix, bool) {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

// Max is the bound; PerAddr the bound of one address (0: none).
func (c *Conns) Max() int     { return int(c.max) }
func (c *Conns) PerAddr() int { return int(c.perAddr) }

// Open is the count of connections taken and not given back.
func (c *Conns) Open() int { return int(c.open.Load()) }

// Addresses is how many addresses have connections counted against
// their bound.
func (c *Conns) Addresses() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byAddr)
}

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
	answer   func(Refusal) []byte // immutable: what a refused connection is sent
	refusing atomic.Int32
	wg       sync.WaitGroup // the refusals being answered
}

// Limit wraps ln so that its connections count against conns. A
// connection beyond a bound is not returned: it is sent answer(why)
// (unless answer is nil or gives nothing, or more than maxRefusing are
// being answered), then closed. The others are returned wrapped so that
// closing them gives their place back. Close waits for the refusals being
// answered, up to refuseWithin.
func Limit(ln net.Listener, conns *Conns, answer func(Refusal) []byte) net.Listener {
	return &limited{Listener: ln, conns: conns, answer: answer}
}

func (l *limited) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		why := l.conns.Take(c.RemoteAddr())
		if why == Admitted {
			return &conn{Conn: c, conns: l.conns, addr: c.RemoteAddr()}, nil
		}
		var answer []byte
		if l.answer != nil {
			answer = l.answer(why)
		}
		l.refuse(c, answer)
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
func (l *limited) refuse(c net.Conn, answer []byte) {
	if len(answer) == 0 || l.refusing.Add(1) > maxRefusing {
		if len(answer) > 0 {
			l.refusing.Add(-1)
		}
		c.Close()
		return
	}
	l.wg.Go(func() {
		defer l.refusing.Add(-1)
		defer c.Close()
		c.SetDeadline(time.Now().Add(refuseWithin))
		if _, err := c.Write(answer); err != nil {
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
	addr  net.Addr // immutable: what it counts against
	once  sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.conns.Give(c.addr) })
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
