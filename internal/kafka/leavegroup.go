package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/group"
)

// leaveGroup removes members (one before v3, a list from v3) and
// rebalances the rest.
func (s *Server) leaveGroup(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	resp.SetVersion(req.Version)
	if resp.ErrorCode = s.notCoordinator(req.Group); resp.ErrorCode != 0 {
		return resp, nil
	}
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	gs := s.groups
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g := gs.lookup(req.Group)
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil
	}
	left := false
	for _, l := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = l.MemberID, l.InstanceID
		m := g.members[l.MemberID]
		if m == nil && l.InstanceID != nil {
			m = g.members[g.static[*l.InstanceID]]
		}
		if code := g.fencedInstance(l.MemberID, l.InstanceID); code != 0 {
			rm.ErrorCode = code
		} else if m == nil {
			rm.ErrorCode = kerr.UnknownMemberID.Code
			if req.Version < 3 {
				resp.ErrorCode = rm.ErrorCode
			}
		} else {
			g.remove(m)
			left = true
		}
		resp.Members = append(resp.Members, rm)
	}
	if left {
		g.membersChanged(time.Now(), group.ReasonMemberLeft)
	}
	return resp, nil
}

// remove takes m out of the group, answering a JoinGroup or SyncGroup it
// still waits in UNKNOWN_MEMBER_ID.
func (g *kgroup) remove(m *member) { g.removeWith(m, kerr.UnknownMemberID.Code) }

// removeWith is remove, answering code.
func (g *kgroup) removeWith(m *member, code int16) {
	delete(g.members, m.id)
	if g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
	if m.join != nil {
		out := kmsg.NewPtrJoinGroupResponse()
		out.ErrorCode, out.Generation, out.MemberID = code, -1, m.id
		m.join <- out
		m.join = nil
	}
	if m.sync != nil {
		m.sync <- syncAnswer{code: code}
		m.sync = nil
	}
}
