package coordinator

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/periodic"
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
// group's kept runs pin together: their buffers as allocated, which the
// pool's size classes make up to half again what was read (a 256 KiB
// read-ahead, with the index interval a read adds, takes a 384 KiB
// buffer). The bound once counted the bytes read, 32 MiB of which held
// about 50 MiB of buffers; 48 MiB keeps as many runs as that did.
//
// A run goes once it has not been used for runIdle to runIdle × 2
// (sweepRuns): a group polling a partition uses its run at every poll, so
// only the runs of groups that stopped polling or lost their topic go; a
// deleted group's go at once. Kept until evicted by newer runs, they
// pinned their buffers for good: an idle broker held 43 MB of them after a
// few benchmark runs.
const (
	pollReadAhead  = 256 << 10
	pollCacheBytes = 48 << 20
	runIdle        = 10 * time.Second
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
	bytes   int64    // what the run pins, roughly (runBytes)
	round   uint64   // the cache's round when the run was last used
}

// runBytes is what keeping batches read into buf pins: the whole buffer,
// which the pool may have made half again larger than the read, and each
// batch's index.
func runBytes(batches []*storedBatch, buf *readBuf) int64 {
	n := int64(cap(buf.b))
	for _, b := range batches {
		n += b.indexBytes()
	}
	return n
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
	round uint64  // sweeps so far (see sweep)
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
	r.round = rc.round
	r.buf.hold() // under mu: no eviction can release it first
	return r.batches, r.buf
}

// put keeps batches, read into buf (which the caller holds; never nil), as k's run,
// in place of the one before, and drops the least recently used runs
// while the cache holds more than its limit. A run larger than the limit
// on its own is not kept.
func (rc *runCache) put(k runKey, batches []*storedBatch, buf *readBuf) {
	r := &run{key: k, batches: batches, buf: buf, bytes: runBytes(batches, buf)}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	r.round = rc.round
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

// dropGroup drops the runs of group.
func (rc *runCache) dropGroup(group string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for k, e := range rc.runs {
		if k.group == group {
			rc.removeLocked(e)
		}
	}
}

// sweep drops the runs not used since the sweep before it, and starts a
// new round.
func (rc *runCache) sweep() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	// Runs are listed by their last use, so the unused ones are the
	// list's tail.
	for e := rc.lru.Back(); e != nil && e.Value.(*run).round < rc.round; e = rc.lru.Back() {
		rc.removeLocked(e)
	}
	rc.round++
}

// sweepRuns sweeps the poll cache every runIdle until ctx ends.
func (c *Coordinator) sweepRuns(ctx context.Context) error {
	periodic.Every(ctx, runIdle, c.runs.sweep)
	return nil
}
