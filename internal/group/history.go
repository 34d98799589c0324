package group

import (
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/assign"
)

// Reason says why a rebalance started (api.Rebalance.Reason).
type Reason string

const (
	ReasonMemberJoined        Reason = "member_joined"
	ReasonMemberLeft          Reason = "member_left"
	ReasonSessionTimeout      Reason = "session_timeout"
	ReasonRebalanceTimeout    Reason = "rebalance_timeout"
	ReasonSubscriptionChanged Reason = "subscription_changed"
	ReasonPartitionsChanged   Reason = "partitions_changed"
	ReasonTopicDeleted        Reason = "topic_deleted"
	// ReasonMemberRejoined: a member of a group assigned outside this
	// package (ExternalHistory: Kafka's classic groups) joined again — the
	// second round of a cooperative rebalance, or a new subscription.
	ReasonMemberRejoined Reason = "member_rejoined"
)

// rebalance is one change of target, open until the group is stable again
// (or the next change supersedes it).
type rebalance struct {
	gen     int64
	reason  Reason
	started time.Time
	ended   time.Time // zero while open
	moved   []api.Move
}

// history keeps the open rebalance, the last closed ones and the totals.
type history struct {
	keep     int
	open     *rebalance
	recent   []rebalance // closed, oldest first, at most keep
	count    int64
	byReason map[Reason]int64
	total    time.Duration // of closed rebalances
}

// start closes the open rebalance, if any, and opens a new one.
func (h *history) start(now time.Time, gen int64, reason Reason, moved []api.Move) {
	h.close(now)
	h.open = &rebalance{gen: gen, reason: reason, started: now, moved: moved}
	h.counted(reason)
}

func (h *history) close(now time.Time) {
	if h.open == nil {
		return
	}
	r := *h.open
	r.ended = now
	h.open = nil
	h.closed(r)
}

// add counts r, closed elsewhere, as if it had opened and closed here.
func (h *history) add(r api.Rebalance) {
	c := rebalance{gen: r.Generation, reason: Reason(r.Reason), started: time.UnixMilli(r.StartedAt),
		ended: time.UnixMilli(r.EndedAt), moved: r.Moved}
	h.counted(c.reason)
	h.closed(c)
}

// counted counts a rebalance as it opens.
func (h *history) counted(reason Reason) {
	h.count++
	if h.byReason == nil {
		h.byReason = make(map[Reason]int64)
	}
	h.byReason[reason]++
}

// closed keeps r, which has ended, among the recent and in the total time.
func (h *history) closed(r rebalance) {
	h.total += r.ended.Sub(r.started)
	h.recent = append(h.recent, r)
	if len(h.recent) > h.keep {
		h.recent = h.recent[len(h.recent)-h.keep:]
	}
}

// stats renders the history; the open rebalance counts toward the total
// time until now and is listed first.
func (h *history) stats(now time.Time) api.RebalanceStats {
	s := api.RebalanceStats{Count: h.count, TotalDurationMS: h.total.Milliseconds(), InProgress: h.open != nil}
	if len(h.byReason) > 0 {
		s.ByReason = make(map[string]int64, len(h.byReason))
		for r, n := range h.byReason {
			s.ByReason[string(r)] = n
		}
	}
	if h.open != nil {
		s.TotalDurationMS = (h.total + now.Sub(h.open.started)).Milliseconds()
		s.Recent = append(s.Recent, h.open.api())
	}
	for i := len(h.recent) - 1; i >= 0 && len(s.Recent) < h.keep; i-- {
		s.Recent = append(s.Recent, h.recent[i].api())
	}
	return s
}

func (r *rebalance) api() api.Rebalance {
	out := api.Rebalance{Generation: r.gen, Reason: string(r.reason), StartedAt: r.started.UnixMilli(), Moved: r.moved}
	if !r.ended.IsZero() {
		out.EndedAt = r.ended.UnixMilli()
		out.DurationMS = r.ended.Sub(r.started).Milliseconds()
	}
	return out
}

// diff lists the partitions whose owner differs between two targets, sorted
// by topic and partition.
func diff(prev, next assign.Plan) []api.Move {
	before, after := owners(prev), owners(next)
	changed := make(parts)
	for p, m := range before {
		if after[p] != m {
			changed[p] = struct{}{}
		}
	}
	for p, m := range after {
		if before[p] != m {
			changed[p] = struct{}{}
		}
	}
	var moves []api.Move
	for _, p := range changed.sorted() {
		moves = append(moves, api.Move{Topic: p.topic, Partition: p.part, From: before[p], To: after[p]})
	}
	return moves
}

func owners(plan assign.Plan) map[tp]string {
	out := make(map[tp]string)
	for m, topics := range plan {
		for t, ps := range topics {
			for _, p := range ps {
				out[tp{t, p}] = m
			}
		}
	}
	return out
}
