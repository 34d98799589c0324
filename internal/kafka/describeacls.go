package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// noAuthorizer is why the ACL APIs are refused: GoQueue authorizes by its
// API keys (SASL PLAIN over Kafka), not by Kafka ACLs. A Kafka broker
// without an authorizer answers SECURITY_DISABLED too, which admin tools
// and Kafka UIs show as "ACLs disabled"; an unknown key would close the
// connection instead.
const noAuthorizer = "no ACL authorizer: access is governed by the broker's API keys (--api-keys), not Kafka ACLs"

// describeACLs answers SECURITY_DISABLED: see noAuthorizer.
func (s *Server) describeACLs(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	resp := r.ResponseKind().(*kmsg.DescribeACLsResponse)
	resp.SetVersion(r.GetVersion())
	msg := noAuthorizer
	resp.ErrorCode, resp.ErrorMessage = kerr.SecurityDisabled.Code, &msg
	return resp, nil
}
