package groupstate

import (
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// Poll is one round of a member's poll. A poll whose answer is bounded in
// bytes runs in rounds: each hands out only as many messages as surely fit
// in Room (by the owned partitions' max_message_bytes and log sizes), the
// caller reads them (outside the lock) and counts their bytes, and asks
// again with what is left, until a round hands out fewer than it asked.
type Poll struct {
	Member     string
	Generation int64
	Host       string
	Limit      int   // the most messages this round may hand out
	Room       int64 // the bytes the answer may still carry
	First      bool  // nothing handed out yet: the round hands out at least one message
	// Size, if not nil, returns the size (as max_message_bytes counts it)
	// of the record of a partition at an offset when the caller knows it
	// without reading (records it has read already); a record it does not
	// know counts as the largest its topic and log allow.
	Size func(tp delivery.TP, off int64) (int, bool)
	// Buf, if not nil, is where the round's deliveries go (from its start):
	// a poll's rounds reuse one buffer.
	Buf []delivery.Delivery
}

// PollResult is what a round of a poll handed out.
type PollResult struct {
	// Deliveries are now in flight for the member; the caller reads their
	// records (Reads), and settles with Skip those it must not hand out.
	Deliveries []delivery.Delivery
	// Asked is how many the round could hand out; fewer means nothing more
	// is deliverable now, unless Unsized.
	Asked int
	// Unsized: the round stopped at a message whose size it did not know
	// (see Poll.Size) and that might not fit in what was left of Room. A
	// caller that has read the round's records since may know more: another
	// round may hand out more.
	Unsized bool
	// HeartbeatDue: the member's assignment changed since it was last told
	// (once per change): an empty long poll answers now. Only a poll's
	// first round (Poll.First) looks.
	HeartbeatDue bool
	// NextRedelivery is, when nothing was handed out, when a redelivery
	// comes due (a long poll looks again then); zero: none.
	NextRedelivery time.Time
}

// Read is a run of offsets of one partition whose records a poll needs.
type Read struct {
	TP       delivery.TP
	From, To int64 // [From, To)
}

// Reads returns the records r's deliveries need read, as runs of
// consecutive offsets, in delivery order.
func (r PollResult) Reads() []Read {
	var out []Read
	for _, d := range r.Deliveries {
		if n := len(out); n > 0 && out[n-1].TP == d.TP && out[n-1].To == d.Offset {
			out[n-1].To++
			continue
		}
		out = append(out, Read{TP: d.TP, From: d.Offset, To: d.Offset + 1})
	}
	return out
}

// Poll hands the member messages of the partitions it is assigned (not
// those it is revoking): due redeliveries first, then new messages, fairly
// across partitions (see delivery.Group.Poll), up to p.Limit, what fits in
// p.Room and the member's in-flight cap. A partition the group has no state
// on starts from its offset_reset, and with it every partition of its topic
// (persisted, so the group and its lag survive a restart before it commits
// anything). topics holds the member's topics; an assigned one absent is
// deleted (the group learns it from SetTopics). Errors: UNKNOWN_MEMBER_ID,
// FENCED_MEMBER, STALE_GENERATION, GROUP_NOT_FOUND, NO_COMMITTED_OFFSET
// (offset_reset none and no offset; details name the partition).
func (a *Group) Poll(now time.Time, p Poll, topics Topics) (PollResult, Effects, error) {
	a.begin(topics)
	res, err := a.poll(now, p)
	return res, a.end(now), err
}

func (a *Group) poll(now time.Time, p Poll) (PollResult, error) {
	pl, err := a.plan(p.Member, p.Generation)
	if err != nil {
		return PollResult{}, err
	}
	a.hosts[p.Member] = p.Host
	var bound sizeBound
	owned, ends := a.owned[:0], a.ends[:0]
	assigned := pl.assigned
	for _, t := range pl.topics {
		top, ok := a.topic(t)
		if !ok {
			continue // deleted (or created again: see topic)
		}
		for _, n := range assigned[t] {
			if int(n) >= len(top.Partitions) {
				continue
			}
			tp := delivery.TP{Topic: t, Partition: n}
			if !a.d.Has(tp) && a.offsetReset != api.OffsetResetNone {
				// The group takes the topic: every partition starts now,
				// owned or not, so that all survive a restart.
				a.startTopic(t, top)
			}
			part := top.Partitions[n]
			if err := a.start(tp, part); err != nil {
				return PollResult{}, err
			}
			bound.add(top.MaxMessageBytes, part.Bytes)
			ends = append(ends, part.HighWatermark)
			owned = append(owned, tp)
		}
	}
	a.owned, a.ends = owned, ends
	res := PollResult{Asked: max(p.Limit, 0)}
	if p.Limit > 0 {
		var fits func(delivery.TP, int64) bool
		if bound.all > p.Room {
			// Not everything fits: a message goes in flight only if it
			// surely fits in what is left, its size known or bounded.
			room, first := p.Room, p.First
			fits = func(tp delivery.TP, off int64) bool {
				n, known := int64(0), false
				if p.Size != nil {
					var size int
					size, known = p.Size(tp, off)
					n = int64(size)
				}
				if !known {
					n = bound.one
				}
				if n > room && !first {
					res.Unsized = res.Unsized || !known
					return false
				}
				room, first = room-n, false
				return true
			}
		}
		res.Deliveries = a.d.PollFitting(p.Buf[:0], now, p.Member, owned, p.Limit, func(tp delivery.TP) int64 {
			return ends[slices.Index(owned, tp)] // a member owns a few partitions
		}, fits)
	}
	if len(res.Deliveries) > 0 {
		a.hints.add(now.Add(a.d.Config().VisibilityTimeout))
	} else if at, ok := a.deliveryDeadline(now); ok {
		res.NextRedelivery = at
	}
	if p.First && a.g.HeartbeatDue(p.Member) && a.nudged[p.Member] != a.changes {
		a.nudged[p.Member] = a.changes
		res.HeartbeatDue = true
	}
	return res, nil
}

// pollPlan is what a member's assignment makes it poll, kept between the
// rounds of its poll while no membership command runs.
type pollPlan struct {
	member   string
	gen      int64
	ops      uint64 // a.ops when made
	assigned api.Assignment
	topics   []string // of assigned, sorted
}

// plan returns what member may poll (see group.Group.Assignment).
func (a *Group) plan(member string, generation int64) (*pollPlan, error) {
	if pl := a.lastPlan; pl != nil && pl.member == member && pl.gen == generation && pl.ops == a.ops {
		return pl, nil
	}
	assigned, err := a.g.Assignment(member, generation)
	if err != nil {
		return nil, err
	}
	pl := &pollPlan{member: member, gen: generation, ops: a.ops, assigned: assigned, topics: make([]string, 0, len(assigned))}
	for t := range assigned {
		pl.topics = append(pl.topics, t)
	}
	slices.Sort(pl.topics)
	a.lastPlan = pl
	return pl, nil
}

// sizeBound bounds the message bytes of the owned partitions without
// reading them: no message is larger than its topic's max_message_bytes or
// its log, and no set of messages is larger than all the logs together.
type sizeBound struct {
	one int64 // the largest a single message may be
	all int64 // every message of every owned partition together, at most
}

func (s *sizeBound) add(maxMessage int32, logBytes int64) {
	s.one = max(s.one, min(int64(maxMessage), logBytes))
	s.all += logBytes
}

// start gives tp delivery state if it has none, from the group's
// offset_reset (none: NO_COMMITTED_OFFSET; see startOffset), and skips what
// retention removed below the committed offset; either is persisted.
func (a *Group) start(tp delivery.TP, part Partition) error {
	if !a.d.Has(tp) {
		if a.offsetReset == api.OffsetResetNone {
			return api.ErrNoOffset.Withf("group %q has no committed offset for %s/%d and its offset reset policy is none; commit or reset one", a.id, tp.Topic, tp.Partition).
				WithDetail("topic", tp.Topic).WithDetail("partition", tp.Partition)
		}
		a.d.Restore(tp, a.startOffset(tp, part), nil)
		a.persist(tp)
		return nil
	}
	if committed, _ := a.d.Committed(tp); committed < part.Earliest {
		a.d.Commit(tp, part.Earliest)
		a.persist(tp)
	}
	return nil
}

// startTopic starts every partition of topic t that has no delivery state
// yet (offset_reset is not none).
func (a *Group) startTopic(t string, top Topic) {
	for n, part := range top.Partitions {
		tp := delivery.TP{Topic: t, Partition: int32(n)}
		if !a.d.Has(tp) {
			_ = a.start(tp, part) // offset_reset is not none: no error
		}
	}
}

// startOffset is where tp starts for a group with no state on it.
// offset_reset applies only to the partitions the group saw when it first
// subscribed to the topic (subs): earliest is the first offset held, latest
// the high watermark of then, so nothing produced between the join and the
// first poll is skipped. A partition added to the topic later starts at its
// earliest offset, as Kafka consumers apply auto.offset.reset only to their
// initial position: every message of a new partition is delivered.
func (a *Group) startOffset(tp delivery.TP, part Partition) int64 {
	if a.offsetReset != api.OffsetResetLatest {
		return part.Earliest
	}
	hwms, ok := a.subs[tp.Topic]
	switch {
	case !ok:
		return part.HighWatermark // not recorded: the policy applies now
	case int(tp.Partition) < len(hwms):
		return max(hwms[tp.Partition], part.Earliest)
	default:
		return part.Earliest
	}
}
