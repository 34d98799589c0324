package coordinator

import (
	"sync"
	"sync/atomic"
)

// Poll read buffers are recycled. A poll reads stored batches into a new
// buffer of about 1 MiB per partition and pass of its group; allocated
// fresh each time, the runtime zeroed it, faulted its pages in and its
// scavenger handed them back to the kernel after the next collection:
// about a quarter of the broker's CPU in a group consume went to that
// churn. A buffer goes back to bufPool only when nothing can still read
// it, which reference counts tell: the read that made it, the run cache
// keeping it, each poll using it (readAhead) and each answer serving its
// bytes (StoredPart) hold one reference each. A holder that never
// releases (the JSON answer's records alias the bytes) only keeps the
// buffer from being recycled: the garbage collector frees it as before.
//
// Small reads are pooled too: a group polled at 20,000 messages a second
// with little waiting reads about 2 KiB at the tail per poll, and those
// fresh buffers were the largest share of the broker's allocations (16%),
// whose collections showed in the end-to-end p99.
const (
	minPooledRead = 1 << 10 // smaller reads are not worth a pool
	poolClasses   = 33      // 1 KiB to 64 MiB (classSize)
)

// classSize is the size of buffers of class c: 1 KiB, 1.5 KiB, 2 KiB,
// 3 KiB, ... in steps of 2 and 3 times a power of two, so that a buffer
// is at most half again what its read needs (a read of one 1 MiB batch and
// an index interval gets 1.5 MiB, not 2).
func classSize(c int) int { return (2 + c%2) << (9 + c/2) }

// readBuf is one read's buffer and its holders.
type readBuf struct {
	b    []byte // the whole buffer; its bytes change only while refs is 0
	refs atomic.Int32
	pool *bufPool // nil: not recycled
}

// hold adds a holder. Only a holder may add another.
func (r *readBuf) hold() {
	if r != nil {
		r.refs.Add(1)
	}
}

// release drops a holder; the last one returns the buffer to its pool.
func (r *readBuf) release() {
	if r == nil {
		return
	}
	switch n := r.refs.Add(-1); {
	case n == 0 && r.pool != nil:
		r.pool.put(r)
	case n < 0:
		panic("coordinator: read buffer released more often than held")
	}
}

// bufPool keeps idle read buffers by size class: class c holds buffers of
// at least classSize(c) bytes. sync.Pool drops what stays idle over two
// collections, so an idle broker keeps none.
type bufPool struct {
	classes [poolClasses]sync.Pool // of *readBuf
	// got counts the buffers of pooled sizes handed out, made those of
	// them allocated because none was idle: made close to got means
	// answers are not being released.
	got, made atomic.Int64
}

// get returns a buffer of at least n bytes (length 0) with one holder.
func (p *bufPool) get(n int) *readBuf {
	c := 0
	for c < poolClasses && classSize(c) < n {
		c++
	}
	var r *readBuf
	switch {
	case n < minPooledRead || c == poolClasses:
		r = &readBuf{b: make([]byte, 0, n)}
	default:
		p.got.Add(1)
		if pooled, ok := p.classes[c].Get().(*readBuf); ok {
			r = pooled
		} else {
			p.made.Add(1)
			r = &readBuf{b: make([]byte, 0, classSize(c)), pool: p}
		}
	}
	r.refs.Store(1)
	return r
}

// put keeps r, which nothing holds, for a later get.
func (p *bufPool) put(r *readBuf) {
	n := cap(r.b)
	c := -1
	for c+1 < poolClasses && classSize(c+1) <= n {
		c++
	}
	if c < 0 {
		return
	}
	r.b = r.b[:0]
	p.classes[c].Put(r)
}
