package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// deleteGroups deletes groups without members, and their offsets.
func (s *Server) deleteGroups(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	resp.SetVersion(req.Version)
	for _, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		if dg.ErrorCode = s.notCoordinator(id); dg.ErrorCode != 0 {
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		gs := s.groups
		gs.mu.Lock()
		if g := gs.lookup(id); g != nil && len(g.members) > 0 {
			dg.ErrorCode = kerr.NonEmptyGroup.Code
		} else {
			delete(gs.byID, id)
		}
		gs.mu.Unlock()
		if dg.ErrorCode == 0 {
			dg.ErrorCode = groupCode(s.b.DeleteGroup(id))
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp, nil
}
