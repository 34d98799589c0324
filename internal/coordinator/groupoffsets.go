package coordinator

import (
	"context"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
)

// CommitOffsets commits offsets the member chose: everything below each
// offset is settled (in flight or not) and never delivered again. A
// committed offset at or below the current one changes nothing (to rewind,
// reset the offsets of the empty group). The answer comes once the offsets
// are durable. The member must own each partition (a partition it is
// revoking counts). Errors: GROUP_NOT_FOUND, UNKNOWN_MEMBER_ID,
// FENCED_MEMBER, STALE_GENERATION, NOT_PARTITION_OWNER, OFFSET_OUT_OF_RANGE
// (past the high watermark), INVALID_ARGUMENT.
func (c *Coordinator) CommitOffsets(groupID string, req CommitParams, host string) error {
	if req.Offsets.Len() == 0 {
		// {"orders":{}} too: it answered 200 without a look at the
		// member, whoever sent it.
		return api.ErrInvalidArgument.Withf("no offsets to commit")
	}
	_, err := c.commitOffsets(groupID, req, host, false, func(a *groupstate.Group, now time.Time, refs []groupstate.Ref, meta map[delivery.TP]string, view groupstate.Topics) (map[delivery.TP]error, groupstate.Effects, error) {
		fx, err := a.Commit(now, req.MemberID, req.Generation, host, refs, meta, view)
		return nil, fx, err
	})
	return err
}

// CommitOffsetsEach is CommitOffsets as Kafka's OffsetCommit answers it,
// partition by partition (see groupstate.Group.CommitEach): the offsets
// of partitions that do not exist or past their high watermark (see also
// AwaitCopies and unbounded) are refused on their own, in refused, and
// the others committed in one step.
func (c *Coordinator) CommitOffsetsEach(groupID string, req CommitParams, host string) (map[delivery.TP]error, error) {
	return c.commitOffsets(groupID, req, host, true, func(a *groupstate.Group, now time.Time, refs []groupstate.Ref, meta map[delivery.TP]string, view groupstate.Topics) (map[delivery.TP]error, groupstate.Effects, error) {
		return a.CommitEach(now, req.MemberID, req.Generation, host, refs, meta, view)
	})
}

// commitOffsets runs a member's commit of req with commit, under the
// group's lock, and answers once what it decided is durable. kafka: the
// high watermarks of partitions that bound nothing here (unbounded) are
// lifted in the topics commit is given.
func (c *Coordinator) commitOffsets(groupID string, req CommitParams, host string, kafka bool, commit func(*groupstate.Group, time.Time, []groupstate.Ref, map[delivery.TP]string, groupstate.Topics) (map[delivery.TP]error, groupstate.Effects, error)) (map[delivery.TP]error, error) {
	cg, err := c.lookup(groupID)
	if err != nil {
		return nil, err
	}
	var refs []groupstate.Ref
	for t, parts := range req.Offsets {
		for p, off := range parts {
			refs = append(refs, groupstate.Ref{TP: delivery.TP{Topic: t, Partition: p}, Offset: off})
		}
	}
	view := c.topicView(slices.Sorted(offsetTopics(req.Offsets)))
	for _, r := range refs {
		if top, ok := view[r.TP.Topic]; kafka && ok && int(r.TP.Partition) < len(top.Partitions) && c.unbounded(r.TP) {
			top.Partitions[r.TP.Partition].HighWatermark = math.MaxInt64
		}
	}
	cg.mu.Lock()
	refused, fx, err := commit(cg.a, c.now(), refs, req.Metadata.byTP(), view)
	p := c.doneLocked(cg, fx)
	c.usedLocked(cg, fx)
	cg.mu.Unlock()
	p.durable = true
	if werr := c.perform(cg, p); werr != nil {
		return nil, werr
	}
	return refused, err
}

func offsetTopics(o Offsets) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range o {
			if !yield(k) {
				return
			}
		}
	}
}

// byTP is m by partition (nil if m is empty).
func (m CommitMetadata) byTP() map[delivery.TP]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[delivery.TP]string)
	for t, parts := range m {
		for p, text := range parts {
			out[delivery.TP{Topic: t, Partition: p}] = text
		}
	}
	return out
}

// GroupOffsets returns the group's committed offsets: every partition it
// has delivery state for, as written (see readWritten). Errors:
// GROUP_NOT_FOUND, UNAVAILABLE (retriable).
func (c *Coordinator) GroupOffsets(groupID string) (Offsets, error) {
	var out Offsets
	if _, err := c.readWritten(groupID, false, func(cg *cgroup) { out = committedLocked(cg) }); err != nil {
		return nil, err
	}
	return out, nil
}

// Commits is a group's committed offsets as Kafka's OffsetFetch answers
// them (GroupCommits).
type Commits struct {
	Offsets  Offsets
	Metadata CommitMetadata // only partitions that have some
	// Unstable holds, for a stable read, the partitions whose offset
	// write failed or was still in progress after durableReadWait: their
	// offsets are not to be answered (Kafka's UNSTABLE_OFFSET_COMMIT).
	Unstable Assignment
}

// GroupCommits returns the group's committed offsets and the metadata
// Kafka clients committed with them, as Kafka's OffsetFetch answers them.
// With stable (its require_stable), as GroupOffsets, once the writes
// numbered before the read have ended (readWritten), as Kafka 4's
// coordinator waits for the offsets pending then; but a partition whose
// write failed, or is still in progress after durableReadWait, is
// answered in Unstable, as Kafka's older coordinator answered one being
// written, rather than the whole group UNAVAILABLE. Without stable, at
// once and as written (writtenView): where a write is in progress or
// failed, the offset written before it, as Kafka answers the offsets last
// written without waiting for those being written. Both confirm that
// this node still coordinates the group (confirm). Errors:
// GROUP_NOT_FOUND, NOT_COORDINATOR, UNAVAILABLE (retriable).
func (c *Coordinator) GroupCommits(groupID string, stable bool) (Commits, error) {
	var out Commits
	var err error
	if stable {
		var unstable map[delivery.TP]bool
		unstable, err = c.readWritten(groupID, true, func(cg *cgroup) { out.Offsets, out.Metadata = writtenView{cg: cg}.commits() })
		for _, tp := range slices.SortedFunc(maps.Keys(unstable), compareTP) {
			if out.Unstable == nil {
				out.Unstable = Assignment{}
			}
			out.Unstable[tp.Topic] = append(out.Unstable[tp.Topic], tp.Partition)
			delete(out.Offsets[tp.Topic], tp.Partition)
			delete(out.Metadata[tp.Topic], tp.Partition)
		}
	} else {
		err = c.readAsWritten(groupID, func(cg *cgroup) { out.Offsets, out.Metadata = cg.writtenViewLocked().commits() })
	}
	if err != nil {
		return Commits{}, err
	}
	return out, nil
}

// readAsWritten runs read on group groupID under its lock, and answers
// once this node is confirmed to coordinate the group still (confirm),
// without waiting for the group's offset writes, as readWritten does:
// read takes what is written. Errors: GROUP_NOT_FOUND, NOT_COORDINATOR,
// UNAVAILABLE.
func (c *Coordinator) readAsWritten(groupID string, read func(cg *cgroup)) error {
	cg, err := c.lookup(groupID)
	if err != nil {
		return err
	}
	cg.mu.Lock()
	read(cg)
	cg.mu.Unlock()
	return c.confirm(context.Background(), cg)
}

// readWritten runs read on group groupID under its lock, then answers
// once the offset writes numbered before the read have ended
// (awaitWrittenLocked) and this node is confirmed to coordinate the
// group still (confirm): what read took is then as written, and not a
// deposed coordinator's. A write that failed, or is still in progress
// after durableReadWait, fails the read with UNAVAILABLE; with each,
// only the partition it wrote, returned in unwritten. Errors:
// GROUP_NOT_FOUND, NOT_COORDINATOR, UNAVAILABLE.
func (c *Coordinator) readWritten(groupID string, each bool, read func(cg *cgroup)) (unwritten map[delivery.TP]bool, err error) {
	cg, err := c.lookup(groupID)
	if err != nil {
		return nil, err
	}
	cg.mu.Lock()
	read(cg)
	unwritten = cg.awaitWrittenLocked(cg.lastSeq)
	cg.mu.Unlock()
	if len(unwritten) > 0 && !each {
		return nil, api.ErrUnavailable.Withf("group %s's offsets are being written; retry", cg.id).WithDetail("group", cg.id)
	}
	if err := c.confirm(context.Background(), cg); err != nil {
		return nil, err
	}
	return unwritten, nil
}

// durableReadWait bounds awaitWrittenLocked: a Raft round on a cluster, a
// file write on a single broker.
const durableReadWait = 2 * time.Second

// awaitWrittenLocked waits until the group's offset writes numbered up
// to seq have ended, for a read of what they wrote, or durableReadWait
// has passed, and returns the partitions of those that failed or are
// still in progress (nil: none), which the read must not answer. An ack
// or commit is applied to the group before its write ends, and a
// coordinator that loses the write (deposed, its disk failing) leaves
// its successor, or itself restarted, with the offset before it: read
// before the write ended, a committed offset was seen to go back by what
// was lost (a chaos run reading offsets through every node: 13 times in
// 40 faults). As Kafka's coordinator, which shows a commit only once its
// append is done. The caller holds cg.mu, which is released while
// waiting; it then confirms (confirm) that this node still coordinates
// the group: one deposed without knowing it yet holds the offsets as
// they were, which its successor may have moved since (the same run,
// with only the wait: 2 regressions, one of 198 offsets).
func (cg *cgroup) awaitWrittenLocked(seq uint64) map[delivery.TP]bool {
	deadline := time.Now().Add(durableReadWait) // real I/O, whatever the group's clock
	for {
		unwritten, writing := cg.writesBefore(seq)
		if !writing || !time.Now().Before(deadline) {
			return unwritten
		}
		if cg.writesDone == nil {
			cg.writesDone = make(chan struct{})
		}
		done := cg.writesDone
		cg.mu.Unlock()
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
		cg.mu.Lock()
	}
}

// committedLocked returns cg's committed offsets, never nil. Callers hold
// cg.mu.
func committedLocked(cg *cgroup) Offsets {
	out := Offsets{}
	for _, tp := range cg.a.Partitions() {
		off, _ := cg.a.Committed(tp)
		if out[tp.Topic] == nil {
			out[tp.Topic] = make(map[int32]int64)
		}
		out[tp.Topic][tp.Partition] = off
	}
	return out
}

// DeleteOffsets forgets the group's offsets of the partitions named, as
// Kafka's OffsetDelete does, while it has members too, but for those of a
// topic a member subscribes to: its own members', and also's (the topics
// of the classic Kafka members a front end coordinates). Those are left
// and returned. The answer comes once the deletions are durable. Errors:
// GROUP_NOT_FOUND.
func (c *Coordinator) DeleteOffsets(groupID string, partitions Assignment, also []string) (Assignment, error) {
	cg, err := c.lookup(groupID)
	if err != nil {
		return nil, err
	}
	var tps []delivery.TP
	for t, ps := range partitions {
		for _, p := range ps {
			tps = append(tps, delivery.TP{Topic: t, Partition: p})
		}
	}
	cg.mu.Lock()
	kept, fx, err := cg.a.DeleteOffsets(c.now(), tps, also)
	p := c.doneLocked(cg, fx)
	c.usedLocked(cg, fx)
	cg.mu.Unlock()
	p.durable = true
	if werr := c.perform(cg, p); werr != nil {
		return nil, werr
	}
	if err != nil {
		return nil, err
	}
	out := Assignment{}
	for _, tp := range kept {
		out[tp.Topic] = append(out[tp.Topic], tp.Partition)
	}
	return out, nil
}

// DeleteGroup deletes a group with no members and forgets its offsets
// and settings. Errors: GROUP_NOT_FOUND, GROUP_NOT_EMPTY (also while
// classic Kafka members hold it), the storage errors of forgetting them
// (the group is then kept, as it was).
func (c *Coordinator) DeleteGroup(groupID string) error {
	return c.deleteGroup(groupID, nil)
}

// deleteGroup is DeleteGroup, but keep (nil: none), called under the
// group's lock just before its deletion, may still refuse it with an error
// of its own: the offsets retention's last look (expireIdle).
func (c *Coordinator) deleteGroup(groupID string, keep func(cg *cgroup) error) error {
	notFound := api.ErrGroupNotFound.Withf("group %q does not exist", groupID).WithDetail("group", groupID)
	c.mu.Lock()
	cg := c.groups[groupID]
	c.mu.Unlock()
	if cg == nil {
		return notFound
	}
	// A creating join saves its settings (or puts them back) under
	// saveMu, before or after this, never across it; taken before c.mu,
	// so that no lookup waits for that save.
	cg.saveMu.Lock()
	defer cg.saveMu.Unlock()
	c.mu.Lock()
	if c.groups[groupID] != cg {
		c.mu.Unlock()
		return notFound // deleted or forgotten meanwhile
	}
	cg.mu.Lock()
	var err error
	if keep != nil {
		err = keep(cg)
	}
	if err == nil {
		err = cg.a.Delete()
	}
	cg.mu.Unlock()
	if err != nil {
		c.mu.Unlock()
		return err
	}
	// Under c.mu (no group's lock), so that a group of the same name
	// created next does not lose its first offsets or settings to this
	// deletion; and before the group leaves memory, so that a deletion
	// that cannot be made durable (a full disk) is taken back. Gone from
	// memory but not from disk, the group answered its retry
	// GROUP_NOT_FOUND and came back at the next start.
	if err := c.io.deleteGroup(cg.key()); err != nil {
		cg.mu.Lock()
		cg.a.Undelete()
		cg.mu.Unlock()
		c.mu.Unlock()
		return err
	}
	delete(c.groups, groupID)
	delete(c.adoptedClassic, groupID)
	c.mu.Unlock()
	// Its read-aheads after (a walk of every run, under no other lock);
	// a run put meanwhile goes at the sweeps.
	c.runs.dropGroup(groupID)
	return nil
}
