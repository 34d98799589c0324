package coordinator

import (
	"github.com/abd-ulbasit/goqueue/api"
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
	Rebalances api.RebalanceStats
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

// externalView returns the view that replaces a group's own membership:
// when the coordinator has no members of groupID and another front end
// runs members of it. Once they are gone the group is the coordinator's
// again (its offsets; the rebalances they went through are in the history
// RecordRebalance keeps): a classic group's soft state may outlive a
// deletion here or the move of the group's coordination to another node.
func (c *Coordinator) externalView(groupID string, hasMembers bool) (ExternalView, bool) {
	f := c.external.Load()
	if f == nil || hasMembers {
		return ExternalView{}, false
	}
	v, ok := (*f)(groupID)
	if !ok || len(v.Members) == 0 {
		return ExternalView{}, false
	}
	return v, true
}

// overlay puts v's membership into d and the owner of each partition its
// members hold into d's partitions.
func (d *GroupDescription) overlay(v ExternalView) {
	d.State, d.Generation, d.Assignor = v.State, v.Generation, v.Assignor
	d.Members = v.Members
	if d.Members == nil {
		d.Members = []MemberDescription{}
	}
	d.Rebalances = viewRebalanceStats(v.Rebalances)
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

// RecordRebalance keeps a closed rebalance of a group another front end
// runs in the history GET /groups/{id}/rebalances reads (kept across
// restarts), as the coordinator keeps its own groups'.
// It keeps nothing of a group the coordinator does not know (deleted, or
// on a cluster node no longer coordinating it: the front end's soft state
// of it expires there).
func (c *Coordinator) RecordRebalance(groupID string, r api.Rebalance) {
	if _, err := c.lookup(groupID); err == nil {
		c.hist.rebalances.Add(groupID, r)
	}
}
