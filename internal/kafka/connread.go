package kafka

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/budget"
)

// idleAfter is how long a connection waits for its next request holding
// its buffers. Past it the connection is idle: its read buffer, frame
// buffer and answer buffers go back to pools, and it waits for the next
// request holding none. A client that keeps asking (a consumer's fetches
// long-poll for at most their max wait, a producer sends as it has
// records) keeps its buffers, while thousands of connections open and
// silent cost little more than their goroutines. Each once held a 64 KiB
// read buffer, and the buffers its largest request and answer grew (up
// to 1 MiB each), for as long as it stayed open.
const idleAfter = time.Second

// readBufSize is a busy connection's read buffer: a read brings several
// pipelined requests, or a large one in few system calls.
const readBufSize = 64 << 10

// readers are the read buffers of busy connections, lent by idle ones.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

// frames reads one connection's request frames (see idleAfter). Used by
// the connection's goroutine only.
type frames struct {
	nc  net.Conn
	br  *bufio.Reader // nil while idle
	buf []byte        // the last frame's space, for the next; nil while idle
}

// buffered is how many bytes of further requests have arrived already.
func (f *frames) buffered() int {
	if f.br == nil {
		return 0
	}
	return f.br.Buffered()
}

// next reads the next request frame, as readFrame does, by deadline. If
// none has begun to arrive within idleAfter, f's buffers go back to their
// pools and idle is called (for the connection's own) before it waits on.
// A read deadline set meanwhile by someone else (the server's shutdown,
// once ctx ends) ends the wait. The frame is valid until the next call.
func (f *frames) next(ctx context.Context, deadline time.Time, max int32, held *budget.Bytes, idle func()) ([]byte, error) {
	var size [4]byte
	got := 0
	if f.br != nil && f.br.Buffered() == 0 {
		wait := time.Now().Add(idleAfter)
		if deadline.Before(wait) {
			wait = deadline
		}
		f.nc.SetReadDeadline(wait)
		n, err := io.ReadFull(f.br, size[:])
		switch {
		case err == nil:
			got = len(size)
			f.nc.SetReadDeadline(deadline) // for the rest of the frame
			if ctx.Err() != nil {
				return nil, os.ErrDeadlineExceeded // as below
			}
		case !errors.Is(err, os.ErrDeadlineExceeded) || !time.Now().Before(deadline):
			return nil, err
		default:
			// Idle: the bytes of the size read so far (n) stay in size,
			// and nothing else was buffered.
			got = n
			f.release()
			idle()
			f.nc.SetReadDeadline(deadline)
			if ctx.Err() != nil {
				// Set after the deadline, as the server's shutdown sets
				// its own once ctx ended.
				return nil, os.ErrDeadlineExceeded
			}
		}
	}
	if f.br == nil {
		// Idle: the wait for the first byte holds no buffer at all (nor
		// for the rest of a size begun before the connection went idle);
		// a reader is taken for the rest, which reads what has arrived
		// (a connection closed with bytes unread is reset, not closed).
		want := 1
		if got > 0 {
			want = len(size)
		}
		if _, err := io.ReadFull(f.nc, size[got:want]); err != nil {
			return nil, err
		}
		got = want
		f.br = readers.Get().(*bufio.Reader)
		f.br.Reset(f.nc)
	}
	if got < len(size) {
		if _, err := io.ReadFull(f.br, size[got:]); err != nil {
			return nil, err
		}
	}
	// After idle, f.buf is nil: the frame's buffer grows as its bytes
	// arrive, charged to held as it grows (a lent buffer would hold
	// them uncharged until the frame is whole).
	frame, err := readBody(f.br, size, f.buf, max, held)
	if cap(frame) <= keptBuf {
		f.buf = frame // the space for the next request
	}
	// A larger frame is left to the collector once handled: lent to a
	// pool now, another connection could take it while it is read.
	return frame, err
}

// release lends f's buffers to the pools, and makes f idle.
func (f *frames) release() {
	if f.br != nil {
		f.br.Reset(nil)
		readers.Put(f.br)
		f.br = nil
	}
	f.buf = lendBuf(f.buf)
}
