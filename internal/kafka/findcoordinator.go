package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// keyTypeGroup is FindCoordinator's key type of consumer groups (1 is
// transactions, which are not offered).
const keyTypeGroup = 0

// findCoordinator names this broker as every group's coordinator.
func (s *Server) findCoordinator(_ context.Context, c *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	resp.SetVersion(req.Version)
	self := s.self(c)
	code := int16(0)
	if req.CoordinatorType != keyTypeGroup {
		code = kerr.CoordinatorNotAvailable.Code
	}
	if req.Version < 4 {
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = code, self.NodeID, self.Host, self.Port
		return resp, nil
	}
	for _, key := range req.CoordinatorKeys {
		co := kmsg.NewFindCoordinatorResponseCoordinator()
		co.Key, co.ErrorCode, co.NodeID, co.Host, co.Port = key, code, self.NodeID, self.Host, self.Port
		resp.Coordinators = append(resp.Coordinators, co)
	}
	return resp, nil
}
