package kafka

import "sync"

// keptBuf is the largest buffer a connection keeps for its next request.
// Larger ones (fetch responses run to megabytes) go back to bigBufs.
const keptBuf = 1 << 20

// bigBufs lends large buffers across connections: a fetch reuses the
// memory of an earlier one instead of allocating and zeroing megabytes per
// request (a fresh buffer's page faults and the GC's work for it led the
// profile of a kgo consumer), while an idle connection holds none and the
// GC frees what no fetch needs any more.
var bigBufs sync.Pool // of *[]byte, cap > keptBuf

// takeBuf returns an empty buffer with room for n bytes: b's space if it
// has it, else a lent one, else a new one.
func takeBuf(b []byte, n int) []byte {
	if cap(b) >= n && b != nil {
		return b[:0]
	}
	if n <= keptBuf {
		if p, ok := keptBufs.Get().(*[]byte); ok {
			if cap(*p) >= n {
				return (*p)[:0]
			}
			keptBufs.Put(p)
		}
	}
	if p, ok := bigBufs.Get().(*[]byte); ok {
		if cap(*p) >= n {
			return (*p)[:0]
		}
		bigBufs.Put(p) // right for a smaller request
	}
	return make([]byte, 0, max(n, 4<<10))
}

// giveBuf returns what a connection keeps of b once its request is
// answered: b itself if small, else nothing (b goes back to bigBufs).
// Nothing may use b's contents afterwards.
func giveBuf(b []byte) []byte {
	if cap(b) <= keptBuf {
		return b[:0]
	}
	bigBufs.Put(&b)
	return nil
}

// keepBatches returns what a connection keeps of b, the batches of the
// fetch it answered: all of b when the fetch filled half of it or more, as
// fetch after fetch does for a consumer reading a backlog; else what
// giveBuf keeps. Lent to bigBufs, the buffer would often be gone by the
// next fetch (the GC empties the pool when the process allocates much),
// and that fetch would grow a new one by doubling: megabytes allocated,
// zeroed and copied while the consumer waits. A connection keeps at most
// twice what its last fetch needed.
func keepBatches(b []byte) []byte {
	if len(b) >= cap(b)/2 {
		return b[:0]
	}
	return giveBuf(b)
}

// keptBufs lends the buffers of keptBuf bytes or less that idle
// connections held (see idleAfter) to busy ones.
var keptBufs sync.Pool // of *[]byte, cap <= keptBuf

// lendBuf lends b, which nothing may use afterwards, to the pools, and
// returns nil: what an idle connection keeps of it.
func lendBuf(b []byte) []byte {
	if b == nil {
		return nil
	}
	if cap(b) > keptBuf {
		bigBufs.Put(&b)
	} else {
		keptBufs.Put(&b)
	}
	return nil
}
