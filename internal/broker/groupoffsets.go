package broker

import (
	"slices"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// CommitOffsets commits offsets the member chose: everything below each
// offset is settled (in flight or not) and never delivered again. A
// committed offset at or below the current one changes nothing (to rewind,
// reset the offsets of the empty group). The answer comes once the offsets
// are durable. The member must own each partition (a partition it is
// revoking counts). Errors: GROUP_NOT_FOUND, UNKNOWN_MEMBER_ID,
// FENCED_MEMBER, STALE_GENERATION, NOT_PARTITION_OWNER, OFFSET_OUT_OF_RANGE
// (past the high watermark), INVALID_ARGUMENT.
func (b *Broker) CommitOffsets(groupID string, req CommitParams, host string) error {
	if len(req.Offsets) == 0 {
		return api.ErrInvalidArgument.Withf("no offsets to commit")
	}
	c := b.coord
	cg, err := c.lookup(groupID)
	if err != nil {
		return err
	}
	cg.mu.Lock()
	var writes []offsetstore.Write
	err = c.commitLocked(cg, req, host, &writes)
	cg.mu.Unlock()
	if werr := c.store.Write(writes); werr != nil {
		return werr
	}
	return err
}

func (c *coordinator) commitLocked(cg *cgroup, req CommitParams, host string, writes *[]offsetstore.Write) error {
	type commit struct {
		tp  delivery.TP
		off int64
	}
	var todo []commit
	// Check everything first: a commit is applied whole or not at all.
	for _, t := range slices.Sorted(offsetTopics(req.Offsets)) {
		top, err := c.b.lookup(t)
		if err != nil {
			return err
		}
		for p, off := range req.Offsets[t] {
			if err := cg.g.CheckOwner(req.MemberID, req.Generation, t, p); err != nil {
				return err
			}
			part, err := top.partition(p)
			if err != nil {
				return err
			}
			if hwm := part.log.HighWatermark(); off < 0 || off > hwm {
				return api.ErrOffsetOutOfRange.Withf("offset %d of %s/%d is outside 0..%d (the high watermark)", off, t, p, hwm).
					WithDetail("topic", t).WithDetail("partition", p).WithDetail("offset", off).WithDetail("high_watermark", hwm)
			}
			todo = append(todo, commit{delivery.TP{Topic: t, Partition: p}, off})
		}
	}
	cg.hosts[req.MemberID] = host
	for _, cm := range todo {
		if !cg.d.Has(cm.tp) {
			cg.d.Restore(cm.tp, cm.off, nil)
		} else {
			cg.d.Commit(cm.tp, cm.off)
		}
		*writes = append(*writes, c.snapshotLocked(cg, cm.tp))
	}
	cg.signalLocked() // commits may have settled messages others wait behind
	return nil
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

// GroupOffsets returns the group's committed offsets: every partition it
// has delivery state for. Errors: GROUP_NOT_FOUND.
func (b *Broker) GroupOffsets(groupID string) (Offsets, error) {
	cg, err := b.coord.lookup(groupID)
	if err != nil {
		return nil, err
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	return committedLocked(cg), nil
}

// committedLocked returns cg's committed offsets, never nil. Callers hold
// cg.mu.
func committedLocked(cg *cgroup) Offsets {
	out := Offsets{}
	for _, tp := range cg.d.Partitions() {
		off, _ := cg.d.Committed(tp)
		if out[tp.Topic] == nil {
			out[tp.Topic] = make(map[int32]int64)
		}
		out[tp.Topic][tp.Partition] = off
	}
	return out
}

// DeleteGroup deletes a group with no members and forgets its offsets.
// Errors: GROUP_NOT_FOUND, GROUP_NOT_EMPTY (also while classic Kafka
// members hold it).
func (b *Broker) DeleteGroup(groupID string) error {
	c := b.coord
	c.mu.Lock()
	cg := c.groups[groupID]
	if cg == nil {
		c.mu.Unlock()
		return api.ErrGroupNotFound.Withf("group %q does not exist", groupID).WithDetail("group", groupID)
	}
	defer c.mu.Unlock()
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if cg.classic {
		return api.ErrGroupNotEmpty.Withf("group %q has classic Kafka members", groupID).WithDetail("group", groupID)
	}
	if err := cg.g.Delete(); err != nil {
		return err
	}
	delete(c.groups, groupID)
	// Under both locks, so that a group of the same name created next does
	// not lose its first offsets or settings to this deletion.
	if err := c.b.meta.putGroupSettings(groupID, savedSettings{}); err != nil {
		return err
	}
	return c.store.DeleteGroup(groupID)
}
