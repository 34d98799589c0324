package coordinator

import (
	"github.com/abd-ulbasit/goqueue/internal/group"
)

// groupLog is what was last logged of a group, so that the log has one line
// per state change or new generation, not one per heartbeat.
type groupLog struct {
	state group.State
	gen   int64
}

// logChangesLocked logs a group's move to a new generation (a rebalance,
// with its reason and how many partitions move) or to a new state (stable
// again, empty). Callers hold cg.mu.
func (c *Coordinator) logChangesLocked(cg *cgroup) {
	st, gen := cg.a.State(), cg.a.Generation()
	prev := cg.logged
	if st == prev.state && gen == prev.gen {
		return
	}
	cg.logged = groupLog{state: st, gen: gen}
	c.recordRebalancesLocked(cg)
	attrs := []any{"group", cg.id, "state", st.String(), "generation", gen}
	if gen == prev.gen {
		c.log.Info("group state changed", append(attrs, "from", prev.state.String())...)
		return
	}
	if rs := cg.a.Rebalances(c.now()); len(rs.Recent) > 0 && rs.Recent[0].Generation == gen {
		attrs = append(attrs, "reason", rs.Recent[0].Reason, "moved", len(rs.Recent[0].Moved))
	}
	c.log.Info("group rebalance", attrs...)
}
