package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// createACLs refuses every creation SECURITY_DISABLED: see noAuthorizer.
func (s *Server) createACLs(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.SetVersion(req.Version)
	msg := noAuthorizer
	for range req.Creations {
		res := kmsg.NewCreateACLsResponseResult()
		res.ErrorCode, res.ErrorMessage = kerr.SecurityDisabled.Code, &msg
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}
