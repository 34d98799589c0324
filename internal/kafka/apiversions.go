package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersions advertises the keys and versions api serves (Produce's
// from v0: see listedMin).
func (s *Server) apiVersions(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.SetVersion(req.Version)
	resp.ApiKeys = s.supportedKeys()
	return resp, nil
}

// unsupportedVersions answers an ApiVersions request of a version we do not
// speak: in v0, which every client reads, with the versions we do.
func unsupportedVersions(s *Server) kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = s.supportedKeys()
	return resp
}
