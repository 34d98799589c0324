package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// heartbeat keeps a member alive and tells it to rejoin during a rebalance.
func (s *Server) heartbeat(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.SetVersion(req.Version)
	if resp.ErrorCode = s.notCoordinator(req.Group); resp.ErrorCode != 0 {
		return resp, nil
	}
	gs := s.groups
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g := gs.lookup(req.Group)
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil
	}
	m, code := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
	if code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	m.lastSeen = time.Now()
	if g.state == groupPreparingRebalance {
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	}
	return resp, nil
}
