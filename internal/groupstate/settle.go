package groupstate

import (
	"errors"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/group"
)

// Op is what a Settle does to each message it names.
type Op int

const (
	OpAck     Op = iota // processed: settled; the committed offset advances over the settled prefix
	OpNack              // failed: delivered again after a backoff, or dead-lettered (Settle.Nack)
	OpRelease           // handed back unprocessed: deliverable again at once, no retry spent
	OpExtend            // still processing: the visibility deadline moves to now+Settle.Visibility
)

func (o Op) String() string {
	switch o {
	case OpAck:
		return "ack"
	case OpNack:
		return "nack"
	case OpRelease:
		return "release"
	case OpExtend:
		return "extend"
	}
	return "op?"
}

// Ref names one message.
type Ref struct {
	TP     delivery.TP
	Offset int64
}

// Range names the messages [From, To) of one partition.
type Range struct {
	TP       delivery.TP
	From, To int64
}

// Settle is an ack, nack, release or extension of messages a member holds.
type Settle struct {
	Member     string
	Generation int64
	Host       string
	Op         Op
	Messages   []Ref
	Ranges     []Range
	Nack       delivery.NackOptions // with OpNack
	Visibility time.Duration        // with OpExtend; 0: the group's visibility timeout
	// Missing maps each partition named that does not exist (no such
	// topic or partition) to the error its messages fail with, in place of
	// the ownership check: a name the member could never have been handed
	// is a mistake, not an acknowledgement lost. Nil: every one exists.
	Missing map[delivery.TP]error
}

// Failure is one message a Settle could not apply, with why.
type Failure struct {
	Ref Ref
	Err error
}

// SettleResult counts the messages settled and lists the others, in the
// order named (messages, then ranges).
type SettleResult struct {
	Succeeded int
	Failed    []Failure
}

// Settle applies s.Op to every message named, each on its own: the
// member must own its partition (one being revoked counts) with a current
// generation, and hold the message. Acks persist the partitions' offsets;
// nacks past the retry budget, or rejected, hand out dead letters.
// Per-message errors: MESSAGE_NOT_IN_FLIGHT, NOT_PARTITION_OWNER,
// UNKNOWN_MEMBER_ID, FENCED_MEMBER, STALE_GENERATION, GROUP_NOT_FOUND, and
// s.Missing's.
func (a *Group) Settle(now time.Time, s Settle) (SettleResult, Effects) {
	a.begin(nil)
	var (
		res   SettleResult
		dirty []delivery.TP
	)
	one := func(r Ref, owner error) {
		err := owner
		if err == nil {
			var changed bool
			changed, err = a.settleOne(now, s, r)
			if changed && !slices.Contains(dirty, r.TP) {
				dirty = append(dirty, r.TP)
			}
		}
		if err != nil {
			res.Failed = append(res.Failed, Failure{Ref: r, Err: err})
			return
		}
		res.Succeeded++
	}
	if a.g.HasMember(s.Member) {
		a.hosts[s.Member] = s.Host
	}
	for _, m := range s.Messages {
		one(m, a.settledOr(m, a.checkOwner(s, m.TP)))
	}
	for _, r := range s.Ranges {
		owner := a.checkOwner(s, r.TP)
		if owner == nil && s.Op == OpAck {
			// Acks of whole leases settle without per-offset work.
			for off := r.From; off < r.To; {
				next, err := a.d.AckRange(s.Member, r.TP, off, r.To)
				if res.Succeeded += int(next - off); next > off && !slices.Contains(dirty, r.TP) {
					dirty = append(dirty, r.TP)
				}
				if err == nil {
					break
				}
				res.Failed = append(res.Failed, Failure{Ref: Ref{TP: r.TP, Offset: next}, Err: err})
				off = next + 1
			}
			continue
		}
		for off := r.From; off < r.To; off++ {
			ref := Ref{TP: r.TP, Offset: off}
			one(ref, a.settledOr(ref, owner))
		}
	}
	for _, tp := range dirty {
		a.persist(tp)
	}
	return res, a.end(now)
}

// checkOwner is the member's right to settle messages of tp: s.Missing's
// error for a partition that does not exist, else the group's ownership
// check.
func (a *Group) checkOwner(s Settle, tp delivery.TP) error {
	if err, ok := s.Missing[tp]; ok {
		return err
	}
	return a.g.CheckOwner(s.Member, s.Generation, tp.Topic, tp.Partition)
}

// settledOr is owner, the member's right to settle r, except that a
// partition no longer the member's is no reason to refuse a message that
// is settled already: that is said instead (MESSAGE_NOT_IN_FLIGHT, state
// api.NotInFlightSettled). An ack retried after its first try was applied
// and the partition moved on then tells its sender that the message is not
// delivered again, instead of reporting the ack lost (api.AckLost).
func (a *Group) settledOr(r Ref, owner error) error {
	if errors.Is(owner, api.ErrNotOwner) && a.d.Settled(r.TP, r.Offset) {
		return delivery.SettledError(r.TP, r.Offset)
	}
	return owner
}

// settleOne applies s.Op to one message whose ownership is checked, and
// reports whether its partition's settled offsets changed.
func (a *Group) settleOne(now time.Time, s Settle, r Ref) (bool, error) {
	switch s.Op {
	case OpAck:
		err := a.d.Ack(s.Member, r.TP, r.Offset)
		return err == nil, err
	case OpRelease:
		if err := a.d.HandBack(s.Member, r.TP, r.Offset); err != nil {
			return false, err
		}
		a.wake() // deliverable now: wake the partition's long polls
		return false, nil
	case OpExtend:
		d := s.Visibility
		if d <= 0 {
			d = a.d.Config().VisibilityTimeout
		}
		if err := a.d.Extend(now, s.Member, r.TP, r.Offset, d); err != nil {
			return false, err
		}
		a.hints.add(now.Add(d))
		return false, nil
	case OpNack:
		out, err := a.d.Nack(now, s.Member, r.TP, r.Offset, s.Nack)
		if err != nil {
			return false, err
		}
		if out.Dead {
			a.bury([]delivery.DeadLetter{out.Letter}) // settled once written
		} else {
			a.hints.add(out.RetryAt)
		}
		return false, nil
	}
	return false, api.ErrInternal.Withf("unknown settle op %d", int(s.Op))
}

// Skip settles messages a poll handed member that the caller must not
// hand out (damaged data, a DLQ replay meant for another group), as if
// acknowledged; what member no longer holds is left alone.
func (a *Group) Skip(now time.Time, member string, refs []Ref) Effects {
	a.begin(nil)
	var dirty []delivery.TP
	for _, r := range refs {
		if a.d.Ack(member, r.TP, r.Offset) == nil && !slices.Contains(dirty, r.TP) {
			dirty = append(dirty, r.TP)
		}
	}
	for _, tp := range dirty {
		a.persist(tp)
	}
	return a.end(now)
}

// Commit commits offsets member chose: everything below each offset is
// settled (in flight or not) and never delivered again; an offset at or
// below the committed one changes nothing. It is applied whole or not at
// all: the member must own every partition (one being revoked counts), and
// each offset must lie within 0..the high watermark (topics holds the
// topics named). metadata (nil: none) is what a Kafka client committed
// with each offset; it is kept with an offset that became the committed
// one. Errors: GROUP_NOT_FOUND, UNKNOWN_MEMBER_ID, FENCED_MEMBER,
// STALE_GENERATION, NOT_PARTITION_OWNER, TOPIC_NOT_FOUND,
// PARTITION_NOT_FOUND, OFFSET_OUT_OF_RANGE.
func (a *Group) Commit(now time.Time, member string, generation int64, host string, offsets []Ref, metadata map[delivery.TP]string, topics Topics) (Effects, error) {
	a.begin(topics)
	err := a.commit(member, generation, host, offsets, metadata)
	return a.end(now), err
}

// CommitEach is Commit as Kafka's OffsetCommit answers it, partition by
// partition: an offset of a topic or partition that does not exist, or
// outside 0..the high watermark, is refused on its own (in refused), and
// the others are committed in the same step; a refusal of the member (not
// one, fenced, stale, not the owner) refuses them all. (Kafka takes an
// offset past the high watermark, and its consumer resuming there resets;
// a group's HTTP members would wait for it and skip what comes before.)
func (a *Group) CommitEach(now time.Time, member string, generation int64, host string, offsets []Ref, metadata map[delivery.TP]string, topics Topics) (map[delivery.TP]error, Effects, error) {
	a.begin(topics)
	refused := map[delivery.TP]error{}
	var rest []Ref
	for _, c := range offsets {
		if err := a.checkOffset(c); err != nil {
			refused[c.TP] = err
		} else {
			rest = append(rest, c)
		}
	}
	var err error
	if len(rest) > 0 {
		err = a.commit(member, generation, host, rest, metadata)
	}
	return refused, a.end(now), err
}

// commit commits offsets of member whole, each checked.
func (a *Group) commit(member string, generation int64, host string, offsets []Ref, metadata map[delivery.TP]string) error {
	todo := slices.Clone(offsets)
	slices.SortStableFunc(todo, func(x, y Ref) int { return compareTP(x.TP, y.TP) })
	for _, c := range todo {
		top, ok := a.topic(c.TP.Topic)
		if !ok {
			return topicNotFound(c.TP.Topic)
		}
		// A partition that does not exist is refused as such before
		// its owner is asked for (no member owns it: it was answered
		// NOT_PARTITION_OWNER).
		if _, err := top.partition(c.TP.Topic, c.TP.Partition); err != nil {
			return err
		}
		if err := a.g.CheckOwner(member, generation, c.TP.Topic, c.TP.Partition); err != nil {
			return err
		}
		if err := a.checkOffset(c); err != nil {
			return err
		}
	}
	a.hosts[member] = host
	for _, c := range todo {
		if !a.d.Has(c.TP) {
			a.d.Restore(c.TP, c.Offset, nil)
		} else {
			a.d.Commit(c.TP, c.Offset)
		}
		if committed, _ := a.d.Committed(c.TP); committed == c.Offset {
			a.note(c.TP, c.Offset, metadata[c.TP])
		}
		a.persist(c.TP)
	}
	a.wake() // commits may have settled messages others wait behind
	return nil
}

// checkOffset checks that c names a partition that exists and an offset
// within 0..its high watermark, as a commit must.
func (a *Group) checkOffset(c Ref) error {
	top, ok := a.topic(c.TP.Topic)
	if !ok {
		return topicNotFound(c.TP.Topic)
	}
	part, err := top.partition(c.TP.Topic, c.TP.Partition)
	if err != nil {
		return err
	}
	if hwm := part.HighWatermark; c.Offset < 0 || c.Offset > hwm {
		return api.ErrOffsetOutOfRange.Withf("offset %d of %s/%d is outside 0..%d (the high watermark)", c.Offset, c.TP.Topic, c.TP.Partition, hwm).
			WithDetail("topic", c.TP.Topic).WithDetail("partition", c.TP.Partition).WithDetail("offset", c.Offset).WithDetail("high_watermark", hwm)
	}
	return nil
}

func topicNotFound(topic string) error {
	return api.ErrTopicNotFound.Withf("topic %q does not exist", topic).WithDetail("topic", topic)
}

// Forgotten marks, in a reset plan, a partition whose offsets are deleted.
const Forgotten = -1

// Reset moves the committed offsets of a group with no members to plan's
// (Forgotten: the partition's state is deleted, and its topic's next
// subscription applies offset_reset again); acknowledgements above a new
// offset are forgotten. The caller plans the offsets (they depend on the
// logs) and checks them. A group held by classic Kafka members has
// members too. Errors: GROUP_NOT_FOUND (deleted), GROUP_NOT_EMPTY.
func (a *Group) Reset(now time.Time, plan []Ref) (Effects, error) {
	a.begin(nil)
	err := a.reset(plan, nil, byOperator)
	return a.end(now), err
}

// StoreClassic is Reset for a commit over Kafka's OffsetCommit, which the
// Kafka front end checked against its classic group: by one of the
// members holding the group (member), or with no member and generation
// (a consumer assigning itself partitions, an admin tool), taken only
// while no classic members hold it. Each is checked again here, where a
// reset is, so that a hold given back or taken since the front end's
// check is seen: UNKNOWN_MEMBER_ID, as Kafka answers either. metadata
// (nil: none) is what the commit carried with each offset. Errors also
// those of Reset.
func (a *Group) StoreClassic(now time.Time, plan []Ref, metadata map[delivery.TP]string, member bool) (Effects, error) {
	a.begin(nil)
	by := byNoMember
	if member {
		by = byClassicMember
	}
	err := a.reset(plan, metadata, by)
	return a.end(now), err
}

// DeleteOffsets forgets the group's state of the partitions named, as
// Kafka's OffsetDelete does, even while it has members, but for those of
// a topic its members subscribe to (also: the topics the classic Kafka
// members holding it subscribe to, which the front end knows): those are
// left as they are and returned. A partition the group has no state for
// needs nothing. Errors: GROUP_NOT_FOUND (deleted).
func (a *Group) DeleteOffsets(now time.Time, tps []delivery.TP, also []string) ([]delivery.TP, Effects, error) {
	a.begin(nil)
	if a.g.State() == group.StateDead {
		return nil, a.end(now), api.ErrGroupNotFound.Withf("group %q was deleted", a.id).WithDetail("group", a.id)
	}
	subscribed := append(a.g.Topics(), also...)
	var kept []delivery.TP
	for _, tp := range slices.SortedFunc(slices.Values(tps), compareTP) {
		switch {
		case slices.Contains(subscribed, tp.Topic):
			kept = append(kept, tp)
		case a.d.Has(tp):
			a.forget(tp)
			delete(a.subs, tp.Topic)
		}
	}
	return kept, a.end(now), nil
}

// resetBy is whose reset or commit reset applies.
type resetBy int8

const (
	byOperator      resetBy = iota // Reset: refused while classic members hold the group
	byClassicMember                // their commit: taken only while they hold it
	byNoMember                     // a commit without member: as the operator's, but UNKNOWN_MEMBER_ID
)

func (a *Group) reset(plan []Ref, metadata map[delivery.TP]string, by resetBy) error {
	if a.g.State() == group.StateDead {
		return api.ErrGroupNotFound.Withf("group %q was deleted", a.id).WithDetail("group", a.id)
	}
	if !a.g.Empty() {
		return api.ErrGroupNotEmpty.Withf("group %q has members; offsets can be reset only when it has none (stop its consumers first)", a.id).WithDetail("group", a.id)
	}
	switch {
	case by == byOperator && a.classic:
		return api.ErrGroupNotEmpty.Withf("group %q has classic Kafka members; offsets can be reset only when it has none (stop its consumers first)", a.id).WithDetail("group", a.id)
	case by == byNoMember && a.classic:
		return api.ErrUnknownMember.Withf("group %q has classic Kafka members: a commit must name one", a.id).WithDetail("group", a.id)
	case by == byClassicMember && !a.classic:
		return api.ErrUnknownMember.Withf("group %q has no classic Kafka members now", a.id).WithDetail("group", a.id)
	}
	todo := slices.Clone(plan)
	slices.SortStableFunc(todo, func(x, y Ref) int { return compareTP(x.TP, y.TP) })
	for _, r := range todo {
		if r.Offset == Forgotten {
			a.forget(r.TP)
			delete(a.subs, r.TP.Topic)
			continue
		}
		a.d.Restore(r.TP, r.Offset, nil)
		a.note(r.TP, r.Offset, metadata[r.TP])
		a.persist(r.TP)
		a.unawait(r.TP)
	}
	a.wake()
	return nil
}

func compareTP(x, y delivery.TP) int {
	if x.Topic != y.Topic {
		if x.Topic < y.Topic {
			return -1
		}
		return 1
	}
	return int(x.Partition) - int(y.Partition)
}
