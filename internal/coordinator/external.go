package coordinator

import (
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/group"
)

// ExternalView is a group whose members another front end runs, as that
// front end sees it: Kafka's classic groups (JoinGroup/SyncGroup) keep
// their members, generation and assignment in the Kafka listener, and only
// their offsets here. Describe and the metrics show it in place of the
// coordinator's own empty membership, so such a group is not reported
// empty while its members consume.
type ExternalView struct {
	State      string // api.GroupState*
	Generation int64
	Assignor   string
	Members    []MemberDescription
	// Open is the rebalance in progress (nil: none). The closed ones are
	// in the group's own history (RecordRebalance).
	Open *api.Rebalance
}

// ExternalViews returns the view of groupID from the front end that runs
// its members; false when it runs none of that ID. It is called with no
// lock of the coordinator held.
type ExternalViews func(groupID string) (ExternalView, bool)

// SetExternalViews installs f (nil: none). A front end installs it once,
// before it serves.
func (c *Coordinator) SetExternalViews(f ExternalViews) {
	if f == nil {
		c.external.Store(nil)
		return
	}
	c.external.Store(&f)
}

// externalView returns the view that replaces a group's own membership
// when the coordinator has none (see snapshot): nil unless another front
// end runs members of groupID. Once they are gone the group is the
// coordinator's again (its offsets, and the rebalances they went through,
// which RecordRebalance counted): a classic group's soft state may outlive
// a deletion here or the move of the group's coordination to another node.
// Callers hold no lock of the coordinator.
func (c *Coordinator) externalView(groupID string) *ExternalView {
	f := c.external.Load()
	if f == nil {
		return nil
	}
	v, ok := (*f)(groupID)
	if !ok || len(v.Members) == 0 {
		return nil
	}
	return &v
}

// topics is the sorted union of the topics v's members subscribe to and
// hold partitions of.
func (v *ExternalView) topics() []string {
	var out []string
	for _, m := range v.Members {
		out = append(out, m.Topics...)
		for t := range m.Assigned {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// rebalances is own, the group's rebalance statistics, with v's rebalance
// in progress.
func (v *ExternalView) rebalances(own api.RebalanceStats, now time.Time) api.RebalanceStats {
	if v.Open == nil {
		return own
	}
	return group.WithOpen(own, *v.Open, now)
}

// overlay puts v's membership into d and the owner of each partition its
// members hold into d's partitions.
func (d *GroupDescription) overlay(v *ExternalView) {
	d.State, d.Generation, d.Assignor = v.State, v.Generation, v.Assignor
	d.Members = v.Members
	if d.Members == nil {
		d.Members = []MemberDescription{}
	}
	type tp struct {
		topic string
		part  int32
	}
	owner := map[tp]string{}
	for _, m := range v.Members {
		for t, ps := range m.Assigned {
			for _, p := range ps {
				owner[tp{t, p}] = m.MemberID
			}
		}
	}
	for i := range d.Partitions {
		p := &d.Partitions[i]
		p.Owner = owner[tp{p.Topic, p.Partition}]
	}
}

// RecordRebalance counts a closed rebalance of a group another front end
// runs as one of the group's own: in its rebalance statistics and
// generation (so neither goes back when those members leave, and members
// that join later go on from it), and in the history GET
// /groups/{id}/rebalances reads (kept across restarts).
// It keeps nothing of a group the coordinator does not know, or does not
// hold for the front end (deleted; on a cluster node no longer
// coordinating it, or coordinating it again: the front end's soft state of
// it expires there).
func (c *Coordinator) RecordRebalance(groupID string, r api.Rebalance) {
	cg, err := c.lookup(groupID)
	if err != nil {
		return
	}
	cg.mu.Lock()
	ok := cg.a.RecordClassicRebalance(r)
	if ok {
		// Its own log and history see it as recorded: neither repeats it.
		cg.recorded = max(cg.recorded, r.Generation)
		cg.logged.gen = cg.a.Generation()
	}
	cg.mu.Unlock()
	if !ok {
		return
	}
	c.hist.rebalances.Add(groupID, r)
	c.log.Info("group rebalance", "group", groupID, "protocol", "classic", "generation", r.Generation,
		"reason", r.Reason, "moved", len(r.Moved))
}
