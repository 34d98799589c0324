package coordinator

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// groupIO is everything the coordinator does beyond its groups' decided
// state: reading records for polls, writing dead letters to DLQs (which may
// create or grow a topic and fsync metadata), persisting offsets and saved
// settings. The coordinator calls it only with no group's lock held: it
// performs a command's effects after releasing the lock (a test checks
// this with a groupIO that fails when a lock is held).
type groupIO interface {
	// batch returns the stored batch with tp's message at off for a poll
	// (see readAhead.batch); ok is false if the message no longer exists.
	batch(ra *readAhead, tp delivery.TP, off int64, n, maxBytes int) (*storedBatch, bool)
	// writeDeadLetter writes dl, a dead letter of group, to its topic's
	// DLQ; nil also when there is nothing to keep (the topic or record is
	// gone).
	writeDeadLetter(group string, dl groupstate.DeadLetter) error
	// writeOffsets persists ws, durable as the fsync policy says.
	writeOffsets(g groupKey, ws []offsetstore.Write) error
	// saveSettings persists what group's creating join fixed.
	saveSettings(g groupKey, s groupstate.Saved) error
	// deleteGroup forgets a deleted group's settings and offsets.
	deleteGroup(g groupKey) error
	// saveClocks keeps the offsets retention's clocks (groupexpiry.go):
	// alive (unix ms; 0: unchanged) and marks. kept says which marks
	// were kept (all or none where one write carries them all).
	saveClocks(alive int64, marks []activeMark) (kept []bool, err error)
	// timestamp returns the timestamp of tp's record at off in l (for a
	// group's time lag).
	timestamp(tp delivery.TP, l *commitlog.Log, off int64) (int64, bool)
}

// brokerIO is the coordinator's groupIO: the broker's logs, DLQs and
// meta.db (through Broker), and the offset store.
type brokerIO struct{ c *Coordinator }

func (io brokerIO) batch(ra *readAhead, tp delivery.TP, off int64, n, maxBytes int) (*storedBatch, bool) {
	return ra.batch(tp, off, n, maxBytes)
}

func (io brokerIO) writeDeadLetter(group string, dl groupstate.DeadLetter) error {
	return io.c.b.WriteDeadLetter(group, dl)
}

func (io brokerIO) writeOffsets(_ groupKey, ws []offsetstore.Write) error {
	return io.c.store.Write(ws)
}

func (io brokerIO) timestamp(_ delivery.TP, l *commitlog.Log, off int64) (int64, bool) {
	recs, err := l.Read(off, 1, 1)
	if err != nil || len(recs) == 0 {
		return 0, false
	}
	return recs[0].Timestamp, true
}

// deleteGroup forgets the offsets first: if the settings cannot be
// forgotten after them, the group that DeleteGroup keeps comes back after
// a restart with its settings, starting where its offset_reset says, not
// with its offsets and the broker's default settings.
func (io brokerIO) deleteGroup(g groupKey) error {
	if err := io.c.store.DeleteGroup(g.id); err != nil {
		return io.c.b.StorageError(err, "delete the offsets of group "+g.id)
	}
	return io.c.b.SaveGroupSettings(g.id, groupstate.Saved{})
}

func (io brokerIO) saveClocks(alive int64, marks []activeMark) ([]bool, error) {
	ms := make([]offsetstore.Mark, len(marks))
	for i, m := range marks {
		ms[i] = offsetstore.Mark{Group: m.g.id, Seq: m.seq, At: m.at}
	}
	kept := make([]bool, len(marks))
	if err := io.c.store.SaveMarks(alive, ms); err != nil {
		return kept, io.c.b.StorageError(err, "save the groups' retention clocks")
	}
	for i := range kept {
		kept[i] = true
	}
	return kept, nil
}

func (io brokerIO) saveSettings(g groupKey, s groupstate.Saved) error {
	return io.c.b.SaveGroupSettings(g.id, s)
}

// pending is what a command left to do once its group's lock is released.
type pending struct {
	writes   []offsetstore.Write
	dead     []groupstate.DeadLetter
	settings *groupstate.Saved
	// durable: the command answers that what it settled or committed is
	// durable, so its write carries the group's failed writes and waits
	// for those in progress (writeOffsets). rewrite: it carries them but
	// does not wait (the timer loop, which must not stall its other
	// groups). Others (joins, heartbeats, polls) write only their own, and
	// do not wait on a failing store.
	durable, rewrite bool
	// reserve is, on a cluster node, the group's generation when it has
	// passed the ceiling reserved for it (see reserve); 0: nothing to
	// reserve.
	reserve int64
}

// doneLocked takes what a command decided: it logs a new state or
// generation, wakes the long polls and schedules the group's next tick as
// fx asks, numbers the offsets to persist (under the lock, so that racing
// writers keep the order the group decided them in), and returns the rest
// to perform after the lock is released. Callers hold cg.mu.
func (c *Coordinator) doneLocked(cg *cgroup, fx groupstate.Effects) pending {
	c.logChangesLocked(cg)
	c.touchLocked(cg)
	if fx.Wake {
		close(cg.ready)
		cg.ready = make(chan struct{})
	}
	c.scheduleLocked(cg, fx.Next)
	p := pending{dead: fx.DeadLetters}
	for _, o := range fx.Offsets {
		seq := c.store.Next()
		p.writes = append(p.writes, offsetstore.Write{Group: cg.id, TP: o.TP, Delete: o.Deleted,
			Offset: offsetstore.Offset{Seq: seq, Committed: o.Committed, Acked: o.Acked, Born: o.Born, Metadata: o.Metadata}})
		cg.writingLocked(o.TP, seq)
		cg.lastSeq = seq
	}
	if fx.Settings != nil {
		s := *fx.Settings
		p.settings = &s
	}
	if gen := cg.a.Generation(); c.repl != nil && gen > cg.ceiling {
		p.reserve = gen
	}
	return p
}

// perform carries out p with no lock held: it saves settings (a failure
// is logged: they apply until a restart), persists offsets (the error, if
// any, is returned: the caller's answer is not durable), and writes dead
// letters, reporting each back to the group, whose answer may be more to
// perform.
func (c *Coordinator) perform(cg *cgroup, p pending) error {
	if err := c.reserveAside(cg, &p); err != nil {
		// The next command of the group tries again; a join or
		// heartbeat does first (reserve), and fails if it cannot.
		c.log.Error("reserve group generations", "group", cg.id, "err", err)
	}
	if p.settings != nil {
		if err := c.io.saveSettings(cg.key(), *p.settings); err != nil {
			c.log.Error("save group settings; they apply until a restart", "group", cg.id, "err", err)
		}
	}
	var err error
	switch {
	case p.durable || p.rewrite:
		err = c.writeOffsets(cg, p.writes, p.durable)
	case len(p.writes) > 0:
		err = c.io.writeOffsets(cg.key(), p.writes)
		cg.mu.Lock()
		cg.writesEndedLocked(p.writes)
		if err != nil {
			c.keepUnwrittenLocked(cg, p.writes)
		} else {
			cg.wroteLocked(p.writes...)
		}
		cg.mu.Unlock()
	}
	for _, dl := range p.dead {
		// A coordinator deposed without knowing it yet wrote to the DLQ
		// what its successor's members may have acknowledged meanwhile
		// (the offsets it writes are fenced, the DLQ's appends are not):
		// confirmed first, as a poll is, else kept pending and retried.
		werr := c.confirm(context.Background(), cg)
		if werr == nil {
			werr = c.io.writeDeadLetter(cg.id, dl)
		}
		cg.mu.Lock()
		var next pending
		if werr != nil {
			// Kept pending and retried with backoff; logged at each try.
			c.log.Error("dead-letter write failed; kept pending and retried with backoff", "group", cg.id, "topic", dl.TP.Topic, "partition", dl.TP.Partition, "offset", dl.Offset, "err", werr)
			next = c.doneLocked(cg, cg.a.DeadLetterFailed(c.now(), dl))
		} else {
			fx, _ := cg.a.DeadLetterWritten(c.now(), dl) // an error: stale, its partition forgotten since
			next = c.doneLocked(cg, fx)
		}
		cg.mu.Unlock()
		err = errors.Join(err, c.perform(cg, next))
	}
	return err
}

// rewriteAfter is how soon the timer loop writes again the offsets of a
// group whose write failed, if no command of the group writes before.
const rewriteAfter = time.Second

// writeOffsets writes own, a command's offset writes, with the group's
// writes that failed before (cgroup.unwritten). With wait it returns nil
// only once none of those is pending: it waits for the rewrites other
// commands carry, and carries again what a failed one put back, so that
// no answer made durable by this write (a retried ack's NOT_IN_FLIGHT
// among them) overtakes an earlier write still failing. Called with no
// lock held.
func (c *Coordinator) writeOffsets(cg *cgroup, own []offsetstore.Write, wait bool) error {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	for {
		ws, carried := own, len(cg.unwritten) > 0
		// mine: own, some of which a newer carried write of the same
		// partition may supersede in ws; they end with it.
		mine := own
		own = nil
		if carried {
			ws = newestWrites(cg.unwritten, ws)
			cg.unwritten = nil
			cg.rewriting++
			// The carried ones are in progress again, for the reads that
			// wait on them (writesBefore): until this write ends they are
			// neither written nor kept unwritten.
			for _, w := range ws {
				cg.writingLocked(w.TP, w.Offset.Seq)
			}
		}
		if len(ws) == 0 {
			if cg.rewriting == 0 || !wait {
				return nil
			}
			cg.rewritten().Wait()
			continue
		}
		cg.mu.Unlock()
		err := c.io.writeOffsets(cg.key(), ws)
		cg.mu.Lock()
		if carried {
			cg.rewriting--
			cg.rewritten().Broadcast()
		}
		cg.writesEndedLocked(mine)
		cg.writesEndedLocked(ws)
		if err != nil {
			c.keepUnwrittenLocked(cg, ws)
			return err
		}
		cg.wroteLocked(ws...)
	}
}

// writingLocked counts tp's write numbered seq in progress. The caller
// holds cg.mu.
func (cg *cgroup) writingLocked(tp delivery.TP, seq uint64) {
	if cg.writing == nil {
		cg.writing = make(map[uint64]delivery.TP)
	}
	cg.writing[seq] = tp
}

// writesEndedLocked marks ws done (written, or kept in unwritten) for the
// reads waiting on them. The caller holds cg.mu.
func (cg *cgroup) writesEndedLocked(ws []offsetstore.Write) {
	for _, w := range ws {
		delete(cg.writing, w.Offset.Seq)
	}
	if cg.writesDone != nil {
		close(cg.writesDone)
		cg.writesDone = nil
	}
}

// writesBefore returns the partitions of the writes numbered up to seq
// that have not ended written (nil: none), still in progress (writing:
// whether any is) or failed and kept unwritten; but for those a newer
// write of their partition has superseded (supersededLocked): a read
// waits for none of them, nor fails for one. A write numbered after seq
// counts too where it may carry one numbered before (newestWrites sends
// a partition's newest state in place of a failed one): where no write
// of its partition numbered since seq has ended written. The caller
// holds cg.mu.
func (cg *cgroup) writesBefore(seq uint64) (unwritten map[delivery.TP]bool, writing bool) {
	carries := func(s uint64, tp delivery.TP) bool {
		return (s <= seq || cg.written[tp].seq < seq) && !cg.supersededLocked(tp, s)
	}
	add := func(tp delivery.TP) {
		if unwritten == nil {
			unwritten = make(map[delivery.TP]bool)
		}
		unwritten[tp] = true
	}
	for s, tp := range cg.writing {
		if carries(s, tp) {
			add(tp)
			writing = true
		}
	}
	for tp, w := range cg.unwritten {
		if carries(w.Offset.Seq, tp) {
			add(tp)
		}
	}
	return unwritten, writing
}

// rewritten is signalled (on cg.mu) when a rewrite of the group's failed
// writes ends. The caller holds cg.mu.
func (cg *cgroup) rewritten() *sync.Cond {
	if cg.rewrittenCond == nil {
		cg.rewrittenCond = sync.NewCond(&cg.mu)
	}
	return cg.rewrittenCond
}

// keepUnwrittenLocked keeps ws, whose write failed, for the group's next
// write (cgroup.unwritten), and has the timer loop try within
// rewriteAfter. A group dropped meanwhile keeps nothing: its writes are
// fenced, and its next coordinator delivers again what they would have
// settled. Nor is a write kept that a newer write of its partition,
// ended before it, superseded (supersededLocked): it ends as if written.
// It was kept, and every read of the group's offsets answered
// UNAVAILABLE until the timer wrote it again, to no effect. The caller
// holds cg.mu, and has ended ws (writesEndedLocked).
func (c *Coordinator) keepUnwrittenLocked(cg *cgroup, ws []offsetstore.Write) {
	if cg.dropped {
		return
	}
	keep := ws[:0:0]
	for _, w := range ws {
		if cg.supersededLocked(w.TP, w.Offset.Seq) {
			cg.wroteLocked(w) // forgets a deletion kept for it
		} else {
			keep = append(keep, w)
		}
	}
	if ws = keep; len(ws) == 0 {
		return
	}
	now := c.now()
	if len(cg.unwritten) == 0 {
		cg.rewriteAt = now.Add(rewriteAfter) // else the earlier kept's try stands
	}
	if cg.unwritten == nil {
		cg.unwritten = make(map[delivery.TP]offsetstore.Write, len(ws))
	}
	for _, w := range ws {
		if old, ok := cg.unwritten[w.TP]; !ok || old.Offset.Seq < w.Offset.Seq {
			cg.unwritten[w.TP] = w
		}
	}
	c.schedMu.Lock()
	next, ok := c.sched[cg]
	c.schedMu.Unlock()
	// A deadline passed is the tick that tried them (tickGroup scheduled
	// it, before it wrote): the next try comes after rewriteAfter.
	if !ok || next.After(cg.rewriteAt) || !next.After(now) {
		c.scheduleLocked(cg, cg.rewriteAt)
	}
}

// newestWrites is the writes of kept and ws, the newest (highest Seq)
// of each partition, in partition order.
func newestWrites(kept map[delivery.TP]offsetstore.Write, ws []offsetstore.Write) []offsetstore.Write {
	newest := maps.Clone(kept)
	for _, w := range ws {
		if old, ok := newest[w.TP]; !ok || old.Offset.Seq < w.Offset.Seq {
			newest[w.TP] = w
		}
	}
	out := slices.Collect(maps.Values(newest))
	slices.SortFunc(out, func(a, b offsetstore.Write) int { return compareTP(a.TP, b.TP) })
	return out
}

// topicView returns what the groups need to know of the named topics
// that exist (every topic with names nil): their identity, partitions and
// offsets, read from memory (no record is read).
func (c *Coordinator) topicView(names []string) groupstate.Topics {
	view := make(groupstate.Topics)
	add := func(t Topic) {
		top := groupstate.Topic{Born: t.CreatedAt, MaxMessageBytes: t.MaxMessageBytes,
			Partitions: make([]groupstate.Partition, len(t.Logs))}
		for i, l := range t.Logs {
			st := l.Stats()
			top.Partitions[i] = groupstate.Partition{Earliest: st.EarliestOffset, HighWatermark: st.HighWatermark, Bytes: st.Bytes}
		}
		view[t.Name] = top
	}
	if names == nil {
		for _, t := range c.b.Topics() {
			add(t)
		}
		return view
	}
	for _, n := range names {
		if t, err := c.b.Topic(n); err == nil {
			add(t)
		}
	}
	return view
}

func compareTP(a, b delivery.TP) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// now is the coordinator's clock.
func (c *Coordinator) now() time.Time { return c.clock() }
