package coordinator

import (
	"container/list"
	"hash/maphash"
	"slices"
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
	// pollRunBytes bounds one kept run. A run grows by each forward read
	// that continues it and drops its oldest batches past this: a member
	// keeps several polls in flight (the client's poll-ahead), and a poll
	// that starts in the batch before the one another poll just read must
	// still find it. Kept to the last read alone, the run made a consume
	// read each stored batch about 2.5 times.
	pollRunBytes = 2 << 20
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
	bytes   int64 // what the run pins, roughly
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

	// reads serialize the forward reads of each key (readAhead.readForward),
	// striped by seed's hash of the key; never held with mu.
	reads [64]sync.Mutex
	seed  maphash.Seed // immutable
}

func newRunCache(limit int64) *runCache {
	return &runCache{limit: limit, runs: make(map[runKey]*list.Element), seed: maphash.MakeSeed()}
}

// readLock is the mutex that serializes forward reads of k.
func (rc *runCache) readLock(k runKey) *sync.Mutex {
	var h maphash.Hash
	h.SetSeed(rc.seed)
	h.WriteString(k.group)
	maphash.WriteComparable(&h, k.log)
	return &rc.reads[h.Sum64()%uint64(len(rc.reads))]
}

// get returns the run kept for k, or nil.
func (rc *runCache) get(k runKey) []*storedBatch {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	e, ok := rc.runs[k]
	if !ok {
		return nil
	}
	rc.lru.MoveToFront(e)
	return e.Value.(*run).batches
}

// put keeps batches as k's run: after the run kept before if they
// continue it (its oldest batches dropped past pollRunBytes), else in its
// place. It drops the least recently used runs while the cache holds more
// than its limit. A run larger than the limit on its own is not kept.
func (rc *runCache) put(k runKey, batches []*storedBatch) {
	if len(batches) == 0 {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if e, ok := rc.runs[k]; ok {
		old := e.Value.(*run).batches
		if old[len(old)-1].next == batches[0].base {
			batches = slices.Concat(old, batches) // a new array: polls may hold the old one
		}
		rc.removeLocked(e)
	}
	r := &run{key: k}
	for i := len(batches) - 1; i >= 0; i-- {
		if r.bytes > 0 && r.bytes+batches[i].pinned() > pollRunBytes {
			batches = batches[i+1:]
			break
		}
		r.bytes += batches[i].pinned()
	}
	r.batches = batches
	if r.bytes > rc.limit {
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
