package kafka

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/assign"
	"github.com/abd-ulbasit/goqueue/internal/coordinator"
)

// view is how GET /groups/{id}, the metrics, the CLI and the console see
// classic group id (coordinator.ExternalView): its members as DescribeGroups
// lists them, with their subscriptions and partitions decoded when they
// speak the consumer protocol, and its rebalance in progress.
func (gs *groups) view(id string) (coordinator.ExternalView, bool) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g := gs.lookup(id)
	if g == nil {
		return coordinator.ExternalView{}, false
	}
	v := coordinator.ExternalView{State: g.state.apiState(), Generation: int64(g.generation), Assignor: g.protocol}
	if r, ok := g.history.Open(); ok {
		v.Open = &r
	}
	for _, mid := range slices.Sorted(mapKeys(g.members)) {
		m := g.members[mid]
		md := coordinator.MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID,
			ClientHost: m.host, Generation: int64(g.generation), Assigned: coordinator.Assignment(g.owners[m.id]),
			SessionTimeout: m.session, LastHeartbeat: m.lastSeen}
		if md.Assigned == nil {
			md.Assigned = coordinator.Assignment{}
		}
		if g.protocolType == protocolTypeConsumer {
			var meta kmsg.ConsumerMemberMetadata
			if meta.ReadFrom(m.metadata(g.protocol)) == nil {
				md.Topics = meta.Topics
			}
		}
		v.Members = append(v.Members, md)
	}
	return v, true
}

// apiState is the state GoQueue's API gives a group in s: members
// converging to a new assignment are reconciling.
func (s groupState) apiState() string {
	switch s {
	case groupEmpty:
		return api.GroupStateEmpty
	case groupStable:
		return api.GroupStateStable
	}
	return api.GroupStateReconciling
}

// plan decodes the assignment the leader handed each member, for a group
// of consumers (nil for another protocol type, whose bytes are opaque).
// An assignment that does not decode counts as empty.
func (g *kgroup) plan() assign.Plan {
	if g.protocolType != protocolTypeConsumer {
		return nil
	}
	plan := assign.Plan{}
	for id, m := range g.members {
		var a kmsg.ConsumerMemberAssignment
		if len(m.assignment) == 0 || a.ReadFrom(m.assignment) != nil {
			continue
		}
		topics := map[string][]int32{}
		for _, t := range a.Topics {
			topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
		}
		plan[id] = topics
	}
	return plan
}
