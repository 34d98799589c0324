package coordinator

import (
	"errors"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// pollReadBytes bounds one forward read of a poll: about what the poll can
// take of the partition, at least pollReadAhead.
const pollReadBytes = 16 << 20

// readAhead finds the stored batches of one poll's messages. It lives for
// one poll, outside the group's lock. A miss past what the group last read
// of the partition reads ahead and keeps the run for the group's next polls
// (runCache); a miss behind it (a redelivery) reads only the batches the
// poll needs and leaves the kept run alone, so that redeliveries do not
// make the group read its next new messages again.
type readAhead struct {
	c     *Coordinator
	group string
	runs  map[delivery.TP]pollRun // per partition, the run last used
	// last is the batch held found last: a poll asks for a partition's
	// messages in runs, most of them in the batch of the one before.
	last     *storedBatch
	lastTP   delivery.TP
	lastFrom int64 // the partition's earliest offset when last was found
	// bufs are the read buffers the poll holds (see readBuf): those of
	// every batch it found; release lets them go when the poll is done.
	bufs []*readBuf
	// charged is what the batches the poll read decompressed to, taken
	// from Config.Decompress until release; busy says a read found no
	// room there (its messages are handed back, see pollOnce).
	charged int64
	busy    bool
}

// release drops the poll's hold of its read buffers. The answer holds
// those it serves from on its own.
func (ra *readAhead) release() {
	for _, b := range ra.bufs {
		b.release()
	}
	give(ra.c.opts.Decompress, ra.charged)
	ra.charged = 0
	ra.bufs, ra.last, ra.runs = ra.bufs[:0], nil, nil
}

// pollRun is a run of stored batches and the partition's earliest offset
// when the poll took it: records retention removed since are not handed
// out.
type pollRun struct {
	batches  []*storedBatch
	earliest int64
}

// prime takes the runs the group's earlier polls kept of topics'
// partitions, so that size knows their records from the first round.
func (ra *readAhead) prime(topics []string) {
	for _, name := range topics {
		t, err := ra.c.b.Topic(name)
		if err != nil {
			continue
		}
		for p, l := range t.Logs {
			bs, buf := ra.c.runs.get(runKey{group: ra.group, log: l})
			if buf != nil {
				ra.bufs = append(ra.bufs, buf)
			}
			if len(bs) > 0 {
				ra.runs[delivery.TP{Topic: name, Partition: int32(p)}] = pollRun{batches: bs, earliest: l.EarliestOffset()}
			}
		}
	}
}

// held returns the batch of a run the poll holds with tp's message at off.
func (ra *readAhead) held(tp delivery.TP, off int64) (*storedBatch, bool) {
	if b := ra.last; b != nil && b.has(off) && off >= ra.lastFrom && ra.lastTP == tp {
		return b, true
	}
	pr, ok := ra.runs[tp]
	if !ok || off < pr.earliest {
		return nil, false
	}
	b := findBatch(pr.batches, off)
	if b == nil || !b.has(off) {
		return nil, false
	}
	ra.last, ra.lastTP, ra.lastFrom = b, tp, pr.earliest
	return b, true
}

// size returns the size of tp's message at off (as max_bytes counts it)
// if a run the poll holds has it. It reads memory only, never a log: the
// group's poll calls it under the group's lock (groupstate.Poll.Size).
func (ra *readAhead) size(tp delivery.TP, off int64) (int, bool) {
	b, ok := ra.held(tp, off)
	if !ok {
		return 0, false
	}
	return b.size(off), true
}

// batch returns the stored batch with tp's message at off; a miss reads
// it, ahead by about n messages' stored bytes when it reads forward, else
// at most about maxBytes. ok is false if the message no longer exists.
func (ra *readAhead) batch(tp delivery.TP, off int64, n, maxBytes int) (*storedBatch, bool) {
	if b, ok := ra.held(tp, off); ok {
		return b, true
	}
	l, err := ra.c.b.Partition(tp.Topic, tp.Partition)
	if err != nil {
		return nil, false
	}
	earliest := l.EarliestOffset()
	if off < earliest {
		return nil, false
	}
	k := runKey{group: ra.group, log: l}
	kept, keptBuf := ra.c.runs.get(k)
	if keptBuf != nil {
		ra.bufs = append(ra.bufs, keptBuf)
	}
	if b := findBatch(kept, off); b != nil {
		ra.runs[tp] = pollRun{batches: kept, earliest: earliest}
		return b, b.has(off)
	}
	var (
		bs      []*storedBatch
		buf     *readBuf
		charged int64
	)
	if len(kept) == 0 || off >= kept[len(kept)-1].next {
		bs, buf, charged, err = readStored(l, off, readAheadBytes(l.Stats(), n), &ra.c.runs.bufs, ra.c.opts.Decompress)
		if err == nil {
			ra.c.runs.put(k, bs, buf)
		}
	} else {
		bs, buf, charged, err = readStored(l, off, min(maxBytes, pollReadAhead), &ra.c.runs.bufs, ra.c.opts.Decompress)
	}
	ra.charged += charged
	if err != nil {
		ra.busy = ra.busy || errors.Is(err, recordbatch.ErrBusy)
		return nil, false
	}
	ra.bufs = append(ra.bufs, buf)
	ra.runs[tp] = pollRun{batches: bs, earliest: earliest}
	b := findBatch(bs, off)
	return b, b != nil && b.has(off)
}

// readAheadBytes is what a forward read of n messages of a log reads: their
// stored bytes by the log's average, at least pollReadAhead and at most
// pollReadBytes.
func readAheadBytes(st commitlog.Stats, n int) int {
	avg := st.Bytes / max(st.HighWatermark-st.EarliestOffset, 1)
	return int(min(max(int64(n)*max(avg, 1), pollReadAhead), pollReadBytes))
}
