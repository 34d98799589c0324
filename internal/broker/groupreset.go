package broker

import (
	"maps"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/group"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
)

// forgotten marks, in a reset plan, a partition whose offsets are deleted.
const forgotten = groupstate.Forgotten

// ResetOffsets moves the committed offsets of a group with no members (see
// api.ResetOffsetsRequest for the modes): acknowledgements above a new
// offset are forgotten, and a deleted partition starts again from the
// offset_reset of the group's next join. With req.DryRun nothing changes,
// the group may have members, and the answer is what the reset would do.
// A reset naming topics or offsets creates the group if needed; one that
// fails creates nothing. Errors: GROUP_NOT_FOUND, GROUP_NOT_EMPTY,
// TOPIC_NOT_FOUND, PARTITION_NOT_FOUND, OFFSET_OUT_OF_RANGE,
// INVALID_ARGUMENT.
func (b *Broker) ResetOffsets(groupID string, req api.ResetOffsetsRequest) (api.ResetOffsetsResponse, error) {
	if err := ValidateGroupID(groupID); err != nil {
		return api.ResetOffsetsResponse{}, err
	}
	if err := checkReset(groupID, req); err != nil {
		return api.ResetOffsetsResponse{}, err
	}
	c := b.coord
	var from api.Offsets // the source group's offsets, copied before any lock of groupID's
	if req.To == api.ResetToGroup {
		src, err := b.GroupOffsets(req.FromGroup)
		if err != nil {
			return api.ResetOffsetsResponse{}, err
		}
		from = src.Offsets
	}
	cg, err := c.lookup(groupID)
	if err != nil {
		if len(req.Topics) == 0 && req.To != api.ResetToOffsets && req.To != api.ResetToGroup {
			return api.ResetOffsetsResponse{}, err
		}
		// A reset may create the group; plan it for an empty group first,
		// so that one that fails, or only previews, leaves nothing behind.
		empty := resetBase{id: groupID, committed: map[delivery.TP]int64{}}
		plan, err := c.planReset(empty, req, from)
		if err != nil || req.DryRun {
			return empty.answer(plan, req.DryRun), err
		}
		if cg, err = c.getOrCreate(groupID); err != nil {
			return api.ResetOffsetsResponse{}, err
		}
	}
	// The plan reads the logs (offsets for a timestamp): with the group's
	// offsets copied, outside its lock.
	base := c.resetBase(cg)
	plan, err := c.planReset(base, req, from)
	if err != nil {
		return api.ResetOffsetsResponse{}, err
	}
	resp := base.answer(plan, req.DryRun)
	if req.DryRun {
		return resp, nil
	}
	refs := make([]groupstate.Ref, 0, len(plan))
	for tp, off := range plan {
		refs = append(refs, groupstate.Ref{TP: tp, Offset: off})
	}
	cg.mu.Lock()
	fx, err := cg.a.Reset(c.now(), refs)
	p := c.doneLocked(cg, fx)
	cg.mu.Unlock()
	if perr := c.perform(cg, p); perr != nil {
		return api.ResetOffsetsResponse{}, perr
	}
	if err != nil {
		return api.ResetOffsetsResponse{}, err
	}
	return resp, nil
}

// resetBase is what a reset reads of its group, copied under its lock.
type resetBase struct {
	id        string
	dead      bool
	committed map[delivery.TP]int64 // every partition the group has state for
}

func (c *coordinator) resetBase(cg *cgroup) resetBase {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	base := resetBase{id: cg.id, dead: cg.a.State() == group.StateDead, committed: make(map[delivery.TP]int64)}
	for _, tp := range cg.a.Partitions() {
		base.committed[tp], _ = cg.a.Committed(tp)
	}
	return base
}

// checkReset validates what a request says without looking at the broker.
func checkReset(groupID string, req api.ResetOffsetsRequest) error {
	bad := func(field, format string, args ...any) error {
		return api.ErrInvalidArgument.Withf(format, args...).WithDetail("field", field)
	}
	switch req.To {
	case api.ResetToEarliest, api.ResetToLatest:
	case api.ResetToTimestamp:
		if req.Timestamp < 0 {
			return bad("timestamp", "timestamp %d must not be negative", req.Timestamp)
		}
	case api.ResetToDuration:
		if req.DurationMS <= 0 {
			return bad("duration_ms", "to duration needs a positive duration_ms")
		}
	case api.ResetToShift:
		if req.Shift == 0 {
			return bad("shift", "to shift needs a non-zero shift")
		}
	case api.ResetToOffsets:
		if len(req.Offsets) == 0 {
			return bad("offsets", `to "offsets" needs offsets`)
		}
		if len(req.Topics) > 0 || len(req.Partitions) > 0 {
			return bad("topics", `to "offsets" takes its partitions from offsets, not topics or partitions`)
		}
	case api.ResetToGroup:
		if req.FromGroup == "" || req.FromGroup == groupID {
			return bad("from_group", "to group needs from_group, another group")
		}
	case api.ResetToDelete:
		if len(req.Topics) == 0 {
			return bad("topics", "to delete needs the topics whose offsets to delete")
		}
	default:
		return bad("to", `to %q: want earliest, latest, timestamp, duration, shift, offsets, group or delete`, req.To)
	}
	if len(req.Partitions) > 0 && len(req.Topics) != 1 {
		return bad("partitions", "partitions need exactly one topic")
	}
	return nil
}

// planReset returns the new offset of every partition the reset touches
// (forgotten for a deletion), all checked; it changes nothing. from is the
// source group's offsets for To "group". It reads the logs: no lock held.
func (c *coordinator) planReset(cg resetBase, req api.ResetOffsetsRequest, from api.Offsets) (map[delivery.TP]int64, error) {
	if cg.dead {
		return nil, api.ErrGroupNotFound.Withf("group %q was deleted", cg.id).WithDetail("group", cg.id)
	}
	plan := make(map[delivery.TP]int64)
	if req.To == api.ResetToOffsets {
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
		if req.To == api.ResetToGroup {
			topics = slices.Collect(maps.Keys(from))
		} else {
			for tp := range cg.committed {
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
			case api.ResetToEarliest:
				off = earliest
			case api.ResetToLatest:
				off = hwm
			case api.ResetToTimestamp, api.ResetToDuration:
				ts := req.Timestamp
				if req.To == api.ResetToDuration {
					ts = c.b.now().Add(-time.Duration(req.DurationMS) * time.Millisecond).UnixMilli()
				}
				if off, err = part.log.OffsetForTimestamp(ts); err != nil {
					return nil, c.b.logError(err, top, part.id)
				}
			case api.ResetToShift:
				cur, ok := cg.committed[tp]
				if !ok {
					cur = earliest
				}
				off = cur + req.Shift
			case api.ResetToGroup:
				o, ok := from[t][part.id]
				if !ok {
					continue // the source has nothing here: leave it as it is
				}
				off = o
			case api.ResetToDelete:
				if _, ok := cg.committed[tp]; ok {
					plan[tp] = forgotten
				}
				continue
			}
			plan[tp] = min(max(off, earliest), hwm)
		}
	}
	return plan, nil
}

// answer describes plan against the group's offsets as copied.
func (cg resetBase) answer(plan map[delivery.TP]int64, dryRun bool) api.ResetOffsetsResponse {
	after := api.Offsets{}
	for tp, off := range cg.committed {
		if after[tp.Topic] == nil {
			after[tp.Topic] = make(map[int32]int64)
		}
		after[tp.Topic][tp.Partition] = off
	}
	changes := []api.OffsetChange{}
	for tp, off := range plan {
		was, ok := cg.committed[tp]
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
		changes = append(changes, api.OffsetChange{Topic: tp.Topic, Partition: tp.Partition, From: was, To: off})
	}
	slices.SortFunc(changes, func(a, b api.OffsetChange) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return api.ResetOffsetsResponse{GroupID: cg.id, Offsets: after, DryRun: dryRun, Changes: changes}
}
