package kafka

import (
	"bytes"
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// syncGroup takes the leader's assignment and hands each member its part;
// followers wait for the leader.
func (s *Server) syncGroup(ctx context.Context, c *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.SetVersion(req.Version)
	if resp.ErrorCode = s.notCoordinator(req.Group); resp.ErrorCode != 0 {
		return resp, nil
	}
	gs := s.groups
	gs.mu.Lock()
	g := gs.lookup(req.Group)
	if g == nil {
		gs.mu.Unlock()
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil
	}
	m, code := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
	if code == 0 && req.ProtocolType != nil && *req.ProtocolType != g.protocolType ||
		code == 0 && req.Protocol != nil && *req.Protocol != g.protocol {
		code = kerr.InconsistentGroupProtocol.Code
	}
	if code != 0 {
		gs.mu.Unlock()
		resp.ErrorCode = code
		return resp, nil
	}
	pt, p := g.protocolType, g.protocol
	resp.ProtocolType, resp.Protocol = &pt, &p
	m.lastSeen = time.Now()
	switch g.state {
	case groupStable:
		resp.MemberAssignment = m.assignment
		gs.mu.Unlock()
		return resp, nil
	case groupCompletingRebalance:
	default:
		gs.mu.Unlock()
		resp.ErrorCode = kerr.RebalanceInProgress.Code
		return resp, nil
	}
	if m.id == g.leader {
		for _, o := range g.members {
			o.assignment = nil
		}
		for _, a := range req.GroupAssignment {
			if o := g.members[a.MemberID]; o != nil {
				o.assignment = bytes.Clone(a.MemberAssignment) // see ownProtocols
			}
		}
		g.state = groupStable
		g.handedOut(time.Now(), g.plan())
		for _, o := range g.members {
			if o.sync != nil {
				o.sync <- syncAnswer{assignment: o.assignment}
				o.sync = nil
			}
		}
		resp.MemberAssignment = m.assignment
		gs.mu.Unlock()
		return resp, nil
	}
	if m.sync != nil {
		m.sync <- syncAnswer{code: kerr.RebalanceInProgress.Code}
	}
	m.sync = make(chan syncAnswer, 1)
	ch := m.sync
	gs.mu.Unlock()
	// A follower's wait holds no part of the frame (its assignments are
	// not read).
	req.GroupAssignment = nil
	c.releaseFrame()
	select {
	case a := <-ch:
		resp.ErrorCode, resp.MemberAssignment = a.code, a.assignment
		return resp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
