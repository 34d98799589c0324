package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// deleteACLs refuses every filter SECURITY_DISABLED: see noAuthorizer.
func (s *Server) deleteACLs(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.SetVersion(req.Version)
	msg := noAuthorizer
	for range req.Filters {
		res := kmsg.NewDeleteACLsResponseResult()
		res.ErrorCode, res.ErrorMessage = kerr.SecurityDisabled.Code, &msg
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}
