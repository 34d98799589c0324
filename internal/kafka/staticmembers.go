package kafka

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Static membership of classic groups (KIP-345): a member that names a
// group.instance.id keeps its place in the group across restarts. Its new
// incarnation joins without a member ID, takes over the old member ID's
// place and assignment, and in a Stable group gets them back without a
// rebalance; the old member ID is fenced (FENCED_INSTANCE_ID) from then on.
// A static member that leaves for good is removed by its session timeout or
// a LeaveGroup naming its instance ID.

// fencedInstance is FENCED_INSTANCE_ID when a request names an instance ID
// that another member ID holds now, else 0.
func (g *kgroup) fencedInstance(memberID string, instanceID *string) int16 {
	if instanceID == nil || *instanceID == "" || memberID == "" {
		return 0
	}
	if holder, ok := g.static[*instanceID]; ok && holder != memberID {
		return kerr.FencedInstanceID.Code
	}
	return 0
}

// replaceStatic gives a static member's place to its new incarnation id:
// the same assignment and protocols, and the leadership if it had it. The
// old incarnation's pending JoinGroup or SyncGroup is answered
// FENCED_INSTANCE_ID.
func (g *kgroup) replaceStatic(old *member, id string) *member {
	if old.join != nil {
		out := kmsg.NewPtrJoinGroupResponse()
		out.ErrorCode, out.Generation, out.MemberID = kerr.FencedInstanceID.Code, -1, old.id
		old.join <- out
		old.join = nil
	}
	if old.sync != nil {
		old.sync <- syncAnswer{code: kerr.FencedInstanceID.Code}
		old.sync = nil
	}
	m := &member{id: id, instanceID: old.instanceID, protocols: old.protocols, assignment: old.assignment}
	delete(g.members, old.id)
	g.members[id] = m
	g.static[m.instanceID] = id
	if g.leader == old.id {
		g.leader = id
	}
	if a, ok := g.owners[old.id]; ok {
		// The partitions it was handed are the new incarnation's.
		delete(g.owners, old.id)
		g.owners[id] = a
	}
	return m
}

// stableRejoin answers a static member's new incarnation in a Stable group
// at once, with the current generation, when it still supports the
// group's protocol: no rebalance, and its SyncGroup returns the assignment
// it had. The leader also gets the members, as a leader's answer has, but
// need not assign (KIP-814's skip assignment, JoinGroup v9+). ok is false
// when a rebalance is needed.
func (g *kgroup) stableRejoin(m *member, req *kmsg.JoinGroupRequest) (resp *kmsg.JoinGroupResponse, ok bool) {
	if g.state != groupStable {
		return nil, false
	}
	supported := false
	for _, p := range req.Protocols {
		supported = supported || p.Name == g.protocol
	}
	if !supported {
		return nil, false
	}
	resp = req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.SetVersion(req.Version)
	pt, p := g.protocolType, g.protocol
	resp.Generation, resp.ProtocolType, resp.Protocol, resp.LeaderID, resp.MemberID = g.generation, &pt, &p, g.leader, m.id
	if m.id == g.leader {
		resp.Members = g.memberList()
		resp.SkipAssignment = true
	}
	return resp, true
}

// memberList is the members and their metadata for the group's protocol,
// as the leader's JoinGroup answer lists them.
func (g *kgroup) memberList() []kmsg.JoinGroupResponseMember {
	var out []kmsg.JoinGroupResponseMember
	for _, id := range slices.Sorted(mapKeys(g.members)) {
		o := g.members[id]
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = o.id
		if o.instanceID != "" {
			iid := o.instanceID
			jm.InstanceID = &iid
		}
		jm.ProtocolMetadata = o.metadata(g.protocol)
		out = append(out, jm)
	}
	return out
}
