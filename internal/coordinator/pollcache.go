package coordinator

import (
	"container/list"
	"sync"
	"unsafe"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// Poll read-ahead: a poll that reads forward (past what its group last
// read of a partition) reads about pollReadAhead stored bytes of records
// (pollReadRecords at most), not only what it can carry, and keeps them for
// the group's next polls. A stored batch is then read, CRC-checked and
// decoded once per pass of the group instead of once per poll: a client's
// stored batches hold thousands of records, and each poll of a few hundred
// per partition read its whole batch again and decoded it up to the offset
// asked. pollCacheBytes bounds what every group's kept runs pin together
// (their records and read buffers, roughly).
const (
	pollReadAhead    = 256 << 10
	pollReadRecords  = 1 << 16
	pollCacheBytes   = 32 << 20
	recordStructSize = int64(unsafe.Sizeof(commitlog.Record{}))
)

// runKey names the last forward read of one group on one partition. The
// log, not the topic's name, is the key: a topic deleted and created again
// has new logs, so nothing read from the old one is served for the new.
type runKey struct {
	group string
	log   *commitlog.Log
}

// run is a run of consecutive stored records, sorted by offset. Records
// are immutable and own their bytes (commitlog.Read), so a run may be
// shared by polls and by answers still being written.
type run struct {
	key   runKey
	recs  []commitlog.Record
	bytes int64 // what the run pins, roughly: its records and their data
}

// runCache keeps the last forward read of each group on each partition,
// least recently used first out once their bytes pass the limit. A run
// holds no state of delivery: which of its records a member may take is
// still delivery's decision at every poll. mu guards every field; polls
// take it with no group's lock held, and it takes no lock itself.
type runCache struct {
	mu    sync.Mutex
	limit int64
	bytes int64
	lru   list.List // of *run, the most recently used at the front
	runs  map[runKey]*list.Element
}

func newRunCache(limit int64) *runCache {
	return &runCache{limit: limit, runs: make(map[runKey]*list.Element)}
}

// get returns the run kept for k, or nil.
func (rc *runCache) get(k runKey) []commitlog.Record {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	e, ok := rc.runs[k]
	if !ok {
		return nil
	}
	rc.lru.MoveToFront(e)
	return e.Value.(*run).recs
}

// put keeps recs as k's run, in place of the one before, and drops the
// least recently used runs while the cache holds more than its limit. A
// run larger than the limit on its own is not kept.
func (rc *runCache) put(k runKey, recs []commitlog.Record) {
	r := &run{key: k, recs: recs, bytes: int64(cap(recs)) * recordStructSize}
	for i := range recs {
		r.bytes += int64(recordSize(&recs[i]))
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if e, ok := rc.runs[k]; ok {
		rc.removeLocked(e)
	}
	if len(recs) == 0 || r.bytes > rc.limit {
		return
	}
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
}
