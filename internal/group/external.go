package group

import (
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/assign"
)

// ExternalHistory is the rebalance history of a group whose assignment is
// made outside this package — Kafka's classic groups, whose leader client
// assigns — in the form Describe gives a Group's: a rebalance opens when
// members must rejoin and closes when the new assignment is handed out,
// which is when its generation and what moved are known.
type ExternalHistory struct{ h history }

// NewExternalHistory keeps the last keep closed rebalances
// (DefaultRecentRebalances if keep <= 0).
func NewExternalHistory(keep int) *ExternalHistory {
	if keep <= 0 {
		keep = DefaultRecentRebalances
	}
	return &ExternalHistory{h: history{keep: keep}}
}

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

// Stats renders the history as Describe does a Group's.
func (e *ExternalHistory) Stats(now time.Time) api.RebalanceStats { return e.h.stats(now) }
