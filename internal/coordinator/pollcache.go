package coordinator

import (
	"container/list"
	"sync"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// Poll read-ahead: a poll that reads forward (past what its group last
// read of a partition) reads about pollReadAhead stored bytes, whole
// batches as stored, not only what it can carry, and keeps them for the
// group's next polls. A stored batch is then read, CRC-checked (by the
// log's read) and indexed once per pass of the group instead of once per
// poll: a client's stored batches hold thousands of records, and each poll
// of a few hundred per partition once read its whole batch again and
// decoded it up to the offset asked. The cache keeps the stored bytes and
// a small index (storedBatch), never decoded records: the binary poll
// answer serves the bytes as they are. pollCacheBytes bounds what every
// group's kept runs pin together.
const (
	pollReadAhead  = 256 << 10
	pollCacheBytes = 32 << 20
)

// runKey names the last forward read of one group on one partition. The
// log, not the topic's name, is the key: a topic deleted and created again
// has new logs, so nothing read from the old one is served for the new.
type runKey struct {
	group string
	log   *commitlog.Log
}

// run is a run of consecutive stored batches, sorted by offset. Batches
// are immutable, so a run may be shared by polls and by answers still
// being written.
type run struct {
	key     runKey
	batches []*storedBatch
	buf     *readBuf // the batches' buffer, held while the run is kept
	bytes   int64    // what the run pins, roughly
}

// runCache keeps the last forward read of each group on each partition,
// least recently used first out once their bytes pass the limit. A run
// holds no state of delivery: which of its records a member may take is
// still delivery's decision at every poll. mu guards every field but
// bufs (safe for concurrent use); polls take it with no group's lock
// held, and it takes no lock itself.
type runCache struct {
	mu    sync.Mutex
	limit int64
	bytes int64
	lru   list.List // of *run, the most recently used at the front
	runs  map[runKey]*list.Element
	bufs  bufPool // the polls' read buffers
}

func newRunCache(limit int64) *runCache {
	return &runCache{limit: limit, runs: make(map[runKey]*list.Element)}
}

// get returns the run kept for k, or nil, and its buffer, which the
// caller now holds (see readBuf) and must release.
func (rc *runCache) get(k runKey) ([]*storedBatch, *readBuf) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	e, ok := rc.runs[k]
	if !ok {
		return nil, nil
	}
	rc.lru.MoveToFront(e)
	r := e.Value.(*run)
	r.buf.hold() // under mu: no eviction can release it first
	return r.batches, r.buf
}

// put keeps batches, read into buf (which the caller holds), as k's run,
// in place of the one before, and drops the least recently used runs
// while the cache holds more than its limit. A run larger than the limit
// on its own is not kept.
func (rc *runCache) put(k runKey, batches []*storedBatch, buf *readBuf) {
	r := &run{key: k, batches: batches, buf: buf}
	for _, b := range batches {
		r.bytes += b.pinned()
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if e, ok := rc.runs[k]; ok {
		rc.removeLocked(e)
	}
	if len(batches) == 0 || r.bytes > rc.limit {
		return
	}
	buf.hold()
	rc.runs[k] = rc.lru.PushFront(r)
	rc.bytes += r.bytes
	for rc.bytes > rc.limit {
		rc.removeLocked(rc.lru.Back())
	}
}

func (rc *runCache) removeLocked(e *list.Element) {
	r := rc.lru.Remove(e).(*run)
	delete(rc.runs, r.key)
	rc.bytes -= r.bytes
	r.buf.release()
}
