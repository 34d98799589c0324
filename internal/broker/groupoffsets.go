package broker

import (
	"slices"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/group"
)

// CommitOffsets commits offsets the member chose: everything below each
// offset is settled (in flight or not) and never delivered again. A
// committed offset at or below the current one changes nothing (to rewind,
// reset the offsets of the empty group). The answer comes once the offsets
// are durable. The member must own each partition (a partition it is
// revoking counts). Errors: GROUP_NOT_FOUND, UNKNOWN_MEMBER_ID,
// FENCED_MEMBER, STALE_GENERATION, NOT_PARTITION_OWNER, OFFSET_OUT_OF_RANGE
// (past the high watermark), INVALID_ARGUMENT.
func (b *Broker) CommitOffsets(groupID string, req api.CommitOffsetsRequest, host string) error {
	if len(req.Offsets) == 0 {
		return api.ErrInvalidArgument.Withf("no offsets to commit").WithDetail("field", "offsets")
	}
	c := b.coord
	cg, err := c.lookup(groupID)
	if err != nil {
		return err
	}
	cg.mu.Lock()
	var writes []offsetWrite
	err = c.commitLocked(cg, req, host, &writes)
	cg.mu.Unlock()
	if werr := c.store.write(writes); werr != nil {
		return werr
	}
	return err
}

func (c *coordinator) commitLocked(cg *cgroup, req api.CommitOffsetsRequest, host string, writes *[]offsetWrite) error {
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

func offsetTopics(o api.Offsets) func(func(string) bool) {
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
func (b *Broker) GroupOffsets(groupID string) (api.OffsetsResponse, error) {
	cg, err := b.coord.lookup(groupID)
	if err != nil {
		return api.OffsetsResponse{}, err
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	return api.OffsetsResponse{GroupID: groupID, Offsets: committedLocked(cg)}, nil
}

func committedLocked(cg *cgroup) api.Offsets {
	out := api.Offsets{}
	for _, tp := range cg.d.Partitions() {
		off, _ := cg.d.Committed(tp)
		if out[tp.Topic] == nil {
			out[tp.Topic] = make(map[int32]int64)
		}
		out[tp.Topic][tp.Partition] = off
	}
	return out
}

// ResetOffsets sets the committed offsets of a group with no members: to
// the earliest or latest offset, the first offset at or after a timestamp,
// or explicit offsets; acknowledgements above the new offsets are
// forgotten. It creates the group if it does not exist and topics are
// named. Errors: GROUP_NOT_FOUND, GROUP_NOT_EMPTY, TOPIC_NOT_FOUND,
// PARTITION_NOT_FOUND, OFFSET_OUT_OF_RANGE, INVALID_ARGUMENT.
func (b *Broker) ResetOffsets(groupID string, req api.ResetOffsetsRequest) (api.OffsetsResponse, error) {
	if err := ValidateGroupID(groupID); err != nil {
		return api.OffsetsResponse{}, err
	}
	switch req.To {
	case api.OffsetResetEarliest, api.OffsetResetLatest, "timestamp", "offsets":
	default:
		return api.OffsetsResponse{}, api.ErrInvalidArgument.Withf(`to %q: want "earliest", "latest", "timestamp" or "offsets"`, req.To).WithDetail("field", "to")
	}
	if req.To == "offsets" && len(req.Offsets) == 0 {
		return api.OffsetsResponse{}, api.ErrInvalidArgument.Withf(`to "offsets" needs offsets`).WithDetail("field", "offsets")
	}
	c := b.coord
	var cg *cgroup
	if len(req.Topics) > 0 || req.To == "offsets" {
		if _, err := c.lookup(groupID); err != nil {
			// Try it on a scratch group first, so a reset that fails does
			// not leave a new, empty group behind.
			if _, err := c.resetLocked(c.newGroup(groupID), req); err != nil {
				return api.OffsetsResponse{}, err
			}
		}
		var err error
		if cg, err = c.getOrCreate(groupID); err != nil {
			return api.OffsetsResponse{}, err
		}
	} else {
		var err error
		if cg, err = c.lookup(groupID); err != nil {
			return api.OffsetsResponse{}, err
		}
	}
	cg.mu.Lock()
	writes, err := c.resetLocked(cg, req)
	var resp api.OffsetsResponse
	if err == nil {
		resp = api.OffsetsResponse{GroupID: groupID, Offsets: committedLocked(cg)}
	}
	cg.mu.Unlock()
	if werr := c.store.write(writes); werr != nil {
		return api.OffsetsResponse{}, werr
	}
	return resp, err
}

func (c *coordinator) resetLocked(cg *cgroup, req api.ResetOffsetsRequest) ([]offsetWrite, error) {
	if cg.g.State() == group.StateDead {
		return nil, api.ErrGroupNotFound.Withf("group %q was deleted", cg.id).WithDetail("group", cg.id)
	}
	if !cg.g.Empty() {
		return nil, api.ErrGroupNotEmpty.Withf("group %q has members; offsets can be reset only when it has none", cg.id).WithDetail("group", cg.id)
	}
	// The partitions to reset and their new offsets, all checked first.
	targets := make(map[delivery.TP]int64)
	topics := req.Topics
	if req.To == "offsets" {
		topics = slices.Collect(offsetTopics(req.Offsets))
	} else if len(topics) == 0 {
		for _, tp := range cg.d.Partitions() {
			if !slices.Contains(topics, tp.Topic) {
				topics = append(topics, tp.Topic)
			}
		}
	}
	for _, t := range topics {
		top, err := c.b.lookup(t)
		if err != nil {
			return nil, err
		}
		if req.To == "offsets" {
			for p, off := range req.Offsets[t] {
				part, err := top.partition(p)
				if err != nil {
					return nil, err
				}
				st := part.log.Stats()
				if off < st.EarliestOffset || off > st.HighWatermark {
					return nil, api.ErrOffsetOutOfRange.Withf("offset %d of %s/%d is outside %d..%d", off, t, p, st.EarliestOffset, st.HighWatermark).
						WithDetail("topic", t).WithDetail("partition", p).WithDetail("earliest_offset", st.EarliestOffset).WithDetail("high_watermark", st.HighWatermark)
				}
				targets[delivery.TP{Topic: t, Partition: p}] = off
			}
			continue
		}
		for _, part := range top.parts {
			var off int64
			switch req.To {
			case api.OffsetResetEarliest:
				off = part.log.EarliestOffset()
			case api.OffsetResetLatest:
				off = part.log.HighWatermark()
			default:
				o, err := part.log.OffsetForTimestamp(req.Timestamp)
				if err != nil {
					return nil, c.b.logError(err, top, part.id)
				}
				off = o
			}
			targets[delivery.TP{Topic: t, Partition: part.id}] = off
		}
	}
	var writes []offsetWrite
	for tp, off := range targets {
		cg.d.Restore(tp, off, nil)
		writes = append(writes, c.snapshotLocked(cg, tp))
	}
	return writes, nil
}

// DeleteGroup deletes a group with no members and forgets its offsets.
// Errors: GROUP_NOT_FOUND, GROUP_NOT_EMPTY.
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
	if err := cg.g.Delete(); err != nil {
		return err
	}
	delete(c.groups, groupID)
	// Under both locks, so that a group of the same name created next does
	// not lose its first offsets to this deletion.
	return c.store.deleteGroup(groupID)
}
