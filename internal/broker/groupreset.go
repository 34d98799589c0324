package broker

import (
	"maps"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/group"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// forgotten marks, in a reset plan, a partition whose offsets are deleted.
const forgotten = -1

// ResetOffsets moves the committed offsets of a group with no members (see
// ResetParams and ResetMode): acknowledgements above a new offset are
// forgotten, and a deleted partition starts again from the offset reset
// policy of the group's next join. With req.DryRun nothing changes,
// the group may have members, and the answer is what the reset would do.
// A reset naming topics or offsets creates the group if needed; one that
// fails creates nothing. Errors: GROUP_NOT_FOUND, GROUP_NOT_EMPTY,
// TOPIC_NOT_FOUND, PARTITION_NOT_FOUND, OFFSET_OUT_OF_RANGE,
// INVALID_ARGUMENT.
func (b *Broker) ResetOffsets(groupID string, req ResetParams) (ResetResult, error) {
	if err := ValidateGroupID(groupID); err != nil {
		return ResetResult{}, err
	}
	if err := checkReset(groupID, req); err != nil {
		return ResetResult{}, err
	}
	c := b.coord
	var from Offsets // the source group's offsets, copied before any lock of groupID's
	if req.To == ResetGroup {
		src, err := b.GroupOffsets(req.FromGroup)
		if err != nil {
			return ResetResult{}, err
		}
		from = src
	}
	cg, err := c.lookup(groupID)
	if err != nil {
		if len(req.Topics) == 0 && req.To != ResetOffsets && req.To != ResetGroup {
			return ResetResult{}, err
		}
		// A reset may create the group; plan it on a scratch group first,
		// so that one that fails, or only previews, leaves nothing behind.
		scratch := c.newGroup(groupID)
		plan, err := c.planResetLocked(scratch, req, from)
		if err != nil || req.DryRun {
			return c.answerLocked(scratch, plan, req.DryRun), err
		}
		if cg, err = c.getOrCreate(groupID); err != nil {
			return ResetResult{}, err
		}
	}
	cg.mu.Lock()
	plan, err := c.planResetLocked(cg, req, from)
	if err == nil && !req.DryRun && !cg.g.Empty() {
		err = api.ErrGroupNotEmpty.Withf("group %q has members; offsets can be reset only when it has none (stop its consumers first)", cg.id).WithDetail("group", cg.id)
	}
	if err != nil {
		cg.mu.Unlock()
		return ResetResult{}, err
	}
	resp := c.answerLocked(cg, plan, req.DryRun)
	var writes []offsetstore.Write
	if !req.DryRun {
		for tp, off := range plan {
			if off == forgotten {
				cg.d.Forget(tp)
				delete(cg.subs, tp.Topic) // the next subscription applies offset_reset again
			} else {
				cg.d.Restore(tp, off, nil)
			}
			writes = append(writes, c.snapshotLocked(cg, tp))
		}
		cg.signalLocked()
	}
	cg.mu.Unlock()
	if err := c.store.Write(writes); err != nil {
		return ResetResult{}, err
	}
	return resp, nil
}

// checkReset checks that req names what its mode needs, without looking
// at the broker. Front ends check their own fields first.
func checkReset(groupID string, req ResetParams) error {
	bad := func(format string, args ...any) error {
		return api.ErrInvalidArgument.Withf("reset to %v: "+format, append([]any{req.To}, args...)...).WithDetail("to", req.To.String())
	}
	switch req.To {
	case ResetEarliest, ResetLatest:
	case ResetTimestamp:
		if req.Time.Before(time.UnixMilli(0)) {
			return bad("time %v is before the Unix epoch", req.Time)
		}
	case ResetDuration:
		if req.Ago <= 0 {
			return bad("needs a positive duration, not %v", req.Ago)
		}
	case ResetShift:
		if req.Shift == 0 {
			return bad("needs a non-zero shift")
		}
	case ResetOffsets:
		if len(req.Offsets) == 0 {
			return bad("needs offsets")
		}
		if len(req.Topics) > 0 || len(req.Partitions) > 0 {
			return bad("takes its partitions from the offsets, not topics or partitions")
		}
	case ResetGroup:
		if req.FromGroup == "" || req.FromGroup == groupID {
			return bad("needs another group to copy")
		}
	case ResetDelete:
		if len(req.Topics) == 0 {
			return bad("needs the topics whose offsets to delete")
		}
	default:
		return api.ErrInvalidArgument.Withf("unknown reset mode %d", int(req.To))
	}
	if len(req.Partitions) > 0 && len(req.Topics) != 1 {
		return bad("partitions need exactly one topic")
	}
	return nil
}

// planResetLocked returns the new offset of every partition the reset
// touches (forgotten for a deletion), all checked; it changes nothing.
// from is the source group's offsets for ResetGroup. Callers hold cg.mu.
func (c *coordinator) planResetLocked(cg *cgroup, req ResetParams, from Offsets) (map[delivery.TP]int64, error) {
	if cg.g.State() == group.StateDead {
		return nil, api.ErrGroupNotFound.Withf("group %q was deleted", cg.id).WithDetail("group", cg.id)
	}
	plan := make(map[delivery.TP]int64)
	if req.To == ResetOffsets {
		for _, t := range slices.Sorted(maps.Keys(req.Offsets)) {
			top, err := c.b.lookup(t)
			if err != nil {
				return nil, err
			}
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
				plan[delivery.TP{Topic: t, Partition: p}] = off
			}
		}
		return plan, nil
	}
	topics := req.Topics
	if len(topics) == 0 {
		if req.To == ResetGroup {
			topics = slices.Collect(maps.Keys(from))
		} else {
			for _, tp := range cg.d.Partitions() {
				if !slices.Contains(topics, tp.Topic) {
					topics = append(topics, tp.Topic)
				}
			}
		}
	}
	slices.Sort(topics)
	for _, t := range topics {
		top, err := c.b.lookup(t)
		if err != nil {
			return nil, err
		}
		parts := top.parts
		if len(req.Partitions) > 0 {
			parts = nil
			for _, p := range req.Partitions {
				part, err := top.partition(p)
				if err != nil {
					return nil, err
				}
				parts = append(parts, part)
			}
		}
		for _, part := range parts {
			tp := delivery.TP{Topic: t, Partition: part.id}
			earliest, hwm := part.log.EarliestOffset(), part.log.HighWatermark()
			var off int64
			switch req.To {
			case ResetEarliest:
				off = earliest
			case ResetLatest:
				off = hwm
			case ResetTimestamp, ResetDuration:
				ts := req.Time.UnixMilli()
				if req.To == ResetDuration {
					ts = c.b.now().Add(-req.Ago).UnixMilli()
				}
				if off, err = part.log.OffsetForTimestamp(ts); err != nil {
					return nil, c.b.logError(err, top, part.id)
				}
			case ResetShift:
				cur, ok := cg.d.Committed(tp)
				if !ok {
					cur = earliest
				}
				off = cur + req.Shift
			case ResetGroup:
				o, ok := from[t][part.id]
				if !ok {
					continue // the source has nothing here: leave it as it is
				}
				off = o
			case ResetDelete:
				if cg.d.Has(tp) {
					plan[tp] = forgotten
				}
				continue
			}
			plan[tp] = min(max(off, earliest), hwm)
		}
	}
	return plan, nil
}

// answerLocked describes plan against cg's offsets now. Callers hold cg.mu
// (or own a scratch group).
func (c *coordinator) answerLocked(cg *cgroup, plan map[delivery.TP]int64, dryRun bool) ResetResult {
	after := committedLocked(cg)
	changes := []OffsetChange{}
	for tp, off := range plan {
		was, ok := cg.d.Committed(tp)
		if !ok {
			was = forgotten
		}
		if off == forgotten {
			delete(after[tp.Topic], tp.Partition)
			if len(after[tp.Topic]) == 0 {
				delete(after, tp.Topic)
			}
		} else {
			if after[tp.Topic] == nil {
				after[tp.Topic] = make(map[int32]int64)
			}
			after[tp.Topic][tp.Partition] = off
		}
		changes = append(changes, OffsetChange{Topic: tp.Topic, Partition: tp.Partition, From: was, To: off})
	}
	slices.SortFunc(changes, func(a, b OffsetChange) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return ResetResult{Offsets: after, DryRun: dryRun, Changes: changes}
}
