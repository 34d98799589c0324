package group

import (
	"maps"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/assign"
)

// ExternalHistory follows the rebalances of a group whose assignment is
// made outside this package — Kafka's classic groups, whose leader client
// assigns — as a Group follows its own: a rebalance opens when members
// must rejoin and closes when the new assignment is handed out, which is
// when its generation and what moved are known. It holds the open one; each
// closed one goes to the Group of the same ID (RecordExternal), which keeps
// the group's one history whatever protocol its members speak.
type ExternalHistory struct{ h history }

// NewExternalHistory returns a history with no rebalance open.
func NewExternalHistory() *ExternalHistory { return &ExternalHistory{h: history{keep: 1}} }

// Start opens a rebalance toward generation gen for reason, unless one is
// open: a member joining while the group already rebalances joins that
// rebalance.
func (e *ExternalHistory) Start(now time.Time, gen int64, reason Reason) {
	if e.h.open == nil {
		e.h.start(now, gen, reason, nil)
	}
}

// Close closes the open rebalance, if any, as generation gen (the group
// may have gone through more than Start expected), whose assignment moved
// the partitions that differ between prev and next.
// It returns the rebalance closed, false if none was open.
func (e *ExternalHistory) Close(now time.Time, gen int64, prev, next assign.Plan) (api.Rebalance, bool) {
	if e.h.open == nil {
		return api.Rebalance{}, false
	}
	e.h.open.gen, e.h.open.moved = gen, diff(prev, next)
	e.h.close(now)
	return e.h.recent[len(e.h.recent)-1].api(), true
}

// Open returns the rebalance in progress; false if none is. The closed
// ones are the Group's of the same ID (RecordExternal).
func (e *ExternalHistory) Open() (api.Rebalance, bool) {
	if e.h.open == nil {
		return api.Rebalance{}, false
	}
	return e.h.open.api(), true
}

// RecordExternal counts r, a closed rebalance of members this package does
// not run (an ExternalHistory's), in the group's history, and raises the
// group's generation to r's. A group has one history and one sequence of
// generations whatever protocol its members speak: its rebalance counters
// and generation do not go back when such members leave, and members of
// its own that join later start past every generation the others saw.
func (g *Group) RecordExternal(r api.Rebalance) {
	g.history.add(r)
	g.GoOnFrom(r.Generation)
}

// WithOpen is s, a group's rebalance statistics, with open — a rebalance
// in progress among members this package does not run — counted as the
// group's own open rebalance would be. An open rebalance read before it
// closed, and s read after RecordExternal counted it, is counted once.
func WithOpen(s api.RebalanceStats, open api.Rebalance, now time.Time) api.RebalanceStats {
	if len(s.Recent) > 0 && s.Recent[0].EndedAt != 0 && s.Recent[0].StartedAt == open.StartedAt && s.Recent[0].Reason == open.Reason {
		return s
	}
	s.Count++
	byReason := make(map[string]int64, len(s.ByReason)+1)
	maps.Copy(byReason, s.ByReason)
	byReason[open.Reason]++
	s.ByReason = byReason
	s.TotalDurationMS += max(now.UnixMilli()-open.StartedAt, 0)
	s.InProgress = true
	s.Recent = append([]api.Rebalance{open}, s.Recent...)
	return s
}
