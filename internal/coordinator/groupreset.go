package coordinator

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/group"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
)

// forgotten marks, in a reset plan, a partition whose offsets are deleted.
const forgotten = groupstate.Forgotten

// ResetOffsets moves the committed offsets of a group with no members (see
// ResetParams and ResetMode): acknowledgements above a new offset are
// forgotten, and a deleted partition starts again from the offset reset
// policy of the group's next join. With req.DryRun nothing changes,
// the group may have members, and the answer is what the reset would do.
// A reset naming topics or offsets creates the group if needed; one that
// fails creates nothing. Errors: GROUP_NOT_FOUND, GROUP_NOT_EMPTY,
// TOPIC_NOT_FOUND, PARTITION_NOT_FOUND, OFFSET_OUT_OF_RANGE,
// INVALID_ARGUMENT.
func (c *Coordinator) ResetOffsets(groupID string, req ResetParams) (ResetResult, error) {
	res, _, err := c.resetOffsets(groupID, req, (*groupstate.Group).Reset)
	return res, err
}

// storePlan is the command that stores a reset's plan in the group, under
// its lock: an operator's Reset, or a Kafka commit's StoreClassic.
type storePlan func(a *groupstate.Group, now time.Time, plan []groupstate.Ref) (groupstate.Effects, error)

// resetOffsets plans req for groupID and stores the plan with store. With
// req.commit, an offset the plan refuses is refused on its own, in the
// map returned, and the others stored. A group deleted between the plan
// and the store (a DELETE, or offsets retention: groupexpiry.go) is
// planned for again, as the group it is now: one the reset creates, or
// none (GROUP_NOT_FOUND), as if the reset had come a moment later; it
// failed GROUP_NOT_FOUND, which a Kafka client's commit does not retry.
func (c *Coordinator) resetOffsets(groupID string, req ResetParams, store storePlan) (ResetResult, map[delivery.TP]error, error) {
	for {
		res, refused, err := c.resetOnce(groupID, req, store)
		if !errors.Is(err, errDeletedMeanwhile) {
			return res, refused, err
		}
	}
}

// errDeletedMeanwhile is resetOnce's: the group was deleted between the
// plan and the store.
var errDeletedMeanwhile = errors.New("coordinator: group deleted meanwhile")

func (c *Coordinator) resetOnce(groupID string, req ResetParams, store storePlan) (ResetResult, map[delivery.TP]error, error) {
	if err := c.checkID(groupID); err != nil {
		return ResetResult{}, nil, err
	}
	if err := checkReset(groupID, req); err != nil {
		return ResetResult{}, nil, err
	}
	var from Offsets // the source group's offsets, copied before any lock of groupID's
	if req.To == ResetGroup {
		from = req.FromOffsets
		if from == nil {
			src, err := c.GroupOffsets(req.FromGroup)
			if err != nil {
				return ResetResult{}, nil, err
			}
			from = src
		}
	}
	cg, err := c.lookup(groupID)
	if err != nil {
		if len(req.Topics) == 0 && req.To != ResetOffsets && req.To != ResetGroup {
			return ResetResult{}, nil, err
		}
		// A reset may create the group; plan it for an empty group first,
		// so that one that fails, or only previews, leaves nothing behind.
		empty := resetBase{id: groupID, committed: map[delivery.TP]int64{}}
		plan, refused, err := c.planReset(empty, req, from)
		if err != nil || req.DryRun || len(plan) == 0 {
			return empty.answer(plan, req.DryRun), refused, err
		}
		if cg, err = c.getOrCreate(groupID); err != nil {
			return ResetResult{}, nil, err
		}
	}
	// The plan reads the logs (offsets for a timestamp): with the group's
	// offsets copied, outside its lock.
	base := c.resetBase(cg, req.DryRun)
	plan, refused, err := c.planReset(base, req, from)
	if err != nil {
		return ResetResult{}, nil, err
	}
	resp := base.answer(plan, req.DryRun)
	if req.DryRun || req.commit && len(plan) == 0 {
		return resp, refused, nil
	}
	refs := make([]groupstate.Ref, 0, len(plan))
	for tp, off := range plan {
		refs = append(refs, groupstate.Ref{TP: tp, Offset: off})
	}
	cg.mu.Lock()
	fx, err := store(cg.a, c.now(), refs)
	p := c.doneLocked(cg, fx)
	if err == nil {
		cg.active = c.now() // a reset keeps the group, even one that moved nothing (groupexpiry.go)
	}
	c.usedLocked(cg, fx)
	cg.mu.Unlock()
	p.durable = true
	if perr := c.perform(cg, p); perr != nil {
		return ResetResult{}, nil, perr
	}
	if errors.Is(err, api.ErrGroupNotFound) {
		return ResetResult{}, nil, errDeletedMeanwhile // store refuses nothing else so: its group is dead
	}
	if err != nil {
		return ResetResult{}, nil, err
	}
	return resp, refused, nil
}

// resetBase is what a reset reads of its group, copied under its lock.
type resetBase struct {
	id        string
	dead      bool
	committed map[delivery.TP]int64 // every partition the group has state for
	// written is the committed offsets as written (writtenView), where
	// one is: what a reset's write replaces durably, which its answer
	// shows ("from") and a shift counts from. nil: committed.
	written map[delivery.TP]int64
}

// resetBase copies what a reset of cg reads of it. A preview (dryRun)
// reads the committed offsets as written, as GET /groups/{group} shows
// them (writtenView): it changes nothing, so it must not show an ack
// whose write is still in progress, or failed. A reset acts on the
// partitions the group has state for; it counts a shift from, and
// answers as replaced ("from"), the offsets as written too: it does what
// its preview showed, and its "from" is never an offset only memory had
// (an ack whose write failed, which the reset's write supersedes), which
// no restart or next coordinator would have had.
func (c *Coordinator) resetBase(cg *cgroup, dryRun bool) resetBase {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	written := cg.writtenViewLocked()
	read := func(v writtenView, tps []delivery.TP) map[delivery.TP]int64 {
		out := make(map[delivery.TP]int64, len(tps))
		for _, tp := range tps {
			if off, ok := v.committed(tp); ok {
				out[tp] = off
			}
		}
		return out
	}
	base := resetBase{id: cg.id, dead: cg.a.State() == group.StateDead}
	if dryRun {
		base.committed = read(written, append(cg.a.Partitions(), written.partitions()...))
		return base
	}
	base.committed = read(writtenView{cg: cg}, cg.a.Partitions()) // no write pending: the group's own offsets
	base.written = read(written, cg.a.Partitions())
	return base
}

// from returns tp's committed offset as written (resetBase.written).
func (cg resetBase) from(tp delivery.TP) (int64, bool) {
	if cg.written == nil {
		off, ok := cg.committed[tp]
		return off, ok
	}
	off, ok := cg.written[tp]
	return off, ok
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
		if req.Offsets.Len() == 0 {
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

// planReset returns the new offset of every partition the reset touches
// (forgotten for a deletion), all checked; it changes nothing. from is the
// source group's offsets for ResetGroup. With req.commit, an offset that
// fails its check is left out of the plan and returned in refused. It
// reads the logs: no lock held.
func (c *Coordinator) planReset(cg resetBase, req ResetParams, from Offsets) (plan map[delivery.TP]int64, refused map[delivery.TP]error, err error) {
	if cg.dead {
		return nil, nil, api.ErrGroupNotFound.Withf("group %q was deleted", cg.id).WithDetail("group", cg.id)
	}
	plan = make(map[delivery.TP]int64)
	if req.To == ResetOffsets {
		for _, t := range slices.Sorted(maps.Keys(req.Offsets)) {
			for p, off := range req.Offsets[t] {
				tp := delivery.TP{Topic: t, Partition: p}
				if req.commit && off < 0 {
					off = c.negativeCommit(tp, off)
				}
				var err error
				if !req.commit {
					err = c.current(tp)
				}
				if err == nil {
					err = c.checkResetOffset(tp, off, req.commit)
				}
				switch {
				case err == nil && off == forgotten:
					if _, ok := cg.committed[tp]; ok {
						plan[tp] = forgotten
					}
				case err == nil:
					plan[tp] = off
				case !req.commit:
					return nil, nil, err
				default:
					if refused == nil {
						refused = make(map[delivery.TP]error)
					}
					refused[tp] = err
				}
			}
		}
		return plan, refused, nil
	}
	topics := req.Topics
	if len(topics) == 0 {
		if req.To == ResetGroup {
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
		top, err := c.b.Topic(t)
		if err != nil {
			return nil, nil, err
		}
		parts, ids := top.Logs, make([]int32, len(top.Logs))
		for i := range ids {
			ids[i] = int32(i)
		}
		if len(req.Partitions) > 0 {
			parts, ids = nil, req.Partitions
			for _, p := range req.Partitions {
				part, err := c.b.Partition(t, p)
				if err != nil {
					return nil, nil, err
				}
				parts = append(parts, part)
			}
		}
		for i, part := range parts {
			id := ids[i]
			tp := delivery.TP{Topic: t, Partition: id}
			if !req.commit && req.To != ResetDelete { // a deletion reads no bounds
				if err := c.current(tp); err != nil {
					return nil, nil, err
				}
			}
			earliest, hwm := part.EarliestOffset(), part.HighWatermark()
			var off int64
			switch req.To {
			case ResetEarliest:
				off = earliest
			case ResetLatest:
				off = hwm
			case ResetTimestamp, ResetDuration:
				ts := req.Time.UnixMilli()
				if req.To == ResetDuration {
					ts = c.now().Add(-req.Ago).UnixMilli()
				}
				if off, err = part.OffsetForTimestamp(ts); err != nil {
					return nil, nil, c.b.LogError(err, t, id)
				}
			case ResetShift:
				cur, ok := cg.from(tp)
				if !ok {
					cur = earliest
				}
				off = cur + req.Shift
			case ResetGroup:
				o, ok := from[t][id]
				if !ok {
					continue // the source has nothing here: leave it as it is
				}
				off = o
			case ResetDelete:
				if _, ok := cg.committed[tp]; ok {
					plan[tp] = forgotten
				}
				continue
			}
			plan[tp] = min(max(off, earliest), hwm)
		}
	}
	return plan, nil, nil
}

// current makes this node's copy of tp current before an operator's reset
// reads its bounds (Replicated.ReadPoint): on a cluster node that copy is
// a follower's or a mirror's, which lags its leader, and a reset to
// latest just after a publish acknowledged left the group before the
// message, as an offset at the leader's high watermark was refused. A
// Kafka commit (req.commit) does not come here: it waits for its copies
// (AwaitCopies) instead.
func (c *Coordinator) current(tp delivery.TP) error {
	if c.repl == nil {
		return nil
	}
	return c.repl.ReadPoint(context.Background(), tp.Topic, tp.Partition)
}

// earliestCommit is the offset kafkajs commits to move a group to a
// partition's earliest offset (Kafka's ListOffsets EARLIEST).
const earliestCommit = -2

// negativeCommit is what a Kafka commit of a negative offset of tp stores.
// Kafka stores any offset, and consumers read a negative one back as none;
// kafkajs commits -2 and -1 to move a group to the earliest or latest
// offset (admin.resetOffsets, a consumer's seek), and its fetchOffsets
// (resolveOffsets) reads -2 back as the earliest. So -2 is the partition's
// earliest offset now, and any other is forgotten (OffsetFetch answers
// -1, as Kafka answers a -1 stored).
func (c *Coordinator) negativeCommit(tp delivery.TP, off int64) int64 {
	if off != earliestCommit {
		return forgotten
	}
	part, err := c.b.Partition(tp.Topic, tp.Partition)
	if err != nil {
		return forgotten // checkResetOffset refuses it
	}
	return part.Stats().EarliestOffset
}

// checkResetOffset checks that tp exists and off lies within its
// earliest offset (for a commit, 0, or forgotten) and its high watermark.
func (c *Coordinator) checkResetOffset(tp delivery.TP, off int64, commit bool) error {
	part, err := c.b.Partition(tp.Topic, tp.Partition)
	if err != nil {
		return err
	}
	st := part.Stats()
	low, high := st.EarliestOffset, st.HighWatermark
	if commit {
		low = 0
		if c.unbounded(tp) {
			high = math.MaxInt64
		}
	}
	if (off < low || off > high) && !(commit && off == forgotten) {
		return api.ErrOffsetOutOfRange.Withf("offset %d of %s/%d is outside %d..%d", off, tp.Topic, tp.Partition, low, st.HighWatermark).
			WithDetail("topic", tp.Topic).WithDetail("partition", tp.Partition).WithDetail("earliest_offset", st.EarliestOffset).WithDetail("high_watermark", st.HighWatermark)
	}
	return nil
}

// answer describes plan against the group's offsets as copied.
func (cg resetBase) answer(plan map[delivery.TP]int64, dryRun bool) ResetResult {
	after := Offsets{}
	for tp, off := range cg.committed {
		if after[tp.Topic] == nil {
			after[tp.Topic] = make(map[int32]int64)
		}
		after[tp.Topic][tp.Partition] = off
	}
	changes := []OffsetChange{}
	for tp, off := range plan {
		was, ok := cg.from(tp)
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
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return ResetResult{Offsets: after, DryRun: dryRun, Changes: changes}
}
