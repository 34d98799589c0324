// Package budget bounds the memory that untrusted input can make the
// broker hold: a byte budget shared by every request of a listener, and
// reads of a size-prefixed payload that allocate as the bytes arrive, not
// as the size announces. A client can announce 100 MiB in four bytes and
// send nothing more; a buffer sized from the announcement made a few
// hundred such connections cost the broker gigabytes.
package budget

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// Bytes bounds the bytes held at once over many readers. Safe for
// concurrent use.
type Bytes struct {
	max  int64 // immutable
	used atomic.Int64
}

// New returns a budget of max bytes.
func New(max int64) *Bytes { return &Bytes{max: max} }

// Take reserves n bytes, or reports false (reserving nothing) if that
// would pass the budget.
func (b *Bytes) Take(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

// TakeUpTo reserves as much of n bytes as the budget has left, and
// returns how many (0 when it is spent).
func (b *Bytes) TakeUpTo(n int64) int64 {
	for {
		used := b.used.Load()
		got := min(n, b.max-used)
		if got <= 0 {
			return 0
		}
		if b.used.CompareAndSwap(used, used+got) {
			return got
		}
	}
}

// Give returns n bytes taken before.
func (b *Bytes) Give(n int64) { b.used.Add(-n) }

// Max is the budget's size; Used what is taken now.
func (b *Bytes) Max() int64  { return b.max }
func (b *Bytes) Used() int64 { return b.used.Load() }

// ErrSpent is a read refused because its budget was spent.
var ErrSpent = errors.New("budget: the bytes held at once are at their limit")

// FirstChunk is the buffer a read starts with when it has none as large
// and the payload is larger, and so what a sender that sent only a
// payload's size holds charged. Small, since that costs the sender
// nothing: at 64 KiB, 3,400 Kafka connections that had each sent 4
// bytes held the whole 200 MiB of --kafka-max-decoding-bytes, and every
// other client's request was refused for as long as they stayed.
const FirstChunk = 4 << 10

// ReadFull reads exactly n bytes from r into buf's space (from its
// start), growing the buffer as the bytes arrive: fourfold each time,
// from FirstChunk up to n, so the copies cost at most a third of n again
// and a sender that stops short has made the reader hold at most four
// times what it sent. With b, the n bytes are charged to it in the same
// steps, before each is read, into a buffer that had the room from the
// start too (one kept from an earlier read): the bytes a sender has sent
// are charged while it stalls, not once the payload is whole. A refusal
// is ErrSpent (wrapped). On any error what was charged is given back; on
// success the caller gives back n once done with the payload. A payload
// that ends early is io.ErrUnexpectedEOF (io.EOF if nothing of it came).
func ReadFull(r io.Reader, buf []byte, n int, b *Bytes) ([]byte, error) {
	step := 0 // the bytes charged, and read before the next step
	fail := func(err error) ([]byte, error) {
		if b != nil {
			b.Give(int64(step))
		}
		return nil, err
	}
	buf = buf[:0]
	for len(buf) < n {
		if len(buf) == step {
			next := min(n, max(FirstChunk, 4*step))
			if b != nil && !b.Take(int64(next-step)) {
				return fail(fmt.Errorf("%w (%d bytes)", ErrSpent, b.Max()))
			}
			step = next
			if step > cap(buf) {
				buf = append(make([]byte, 0, min(n, max(step, 4*cap(buf)))), buf...)
			}
		}
		k, err := io.ReadFull(r, buf[len(buf):step])
		buf = buf[:len(buf)+k]
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return fail(err)
		}
	}
	return buf, nil
}
