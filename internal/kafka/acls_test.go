package kafka_test

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The ACL APIs are answered SECURITY_DISABLED, with why, as a Kafka broker
// without an authorizer answers them: admin tools and Kafka UIs show ACLs
// as disabled instead of a dropped connection (kafka-go sends them without
// asking ApiVersions first).
func TestACLsSecurityDisabled(t *testing.T) {
	p := start(t)
	cl := p.client(t)
	ctx := ctxT(t)
	disabled := func(what string, code int16, msg *string) {
		t.Helper()
		if code != kerr.SecurityDisabled.Code || msg == nil || !strings.Contains(*msg, "API keys") {
			t.Errorf("%s: code %d, message %v; want SECURITY_DISABLED saying why", what, code, msg)
		}
	}

	d := kmsg.NewPtrDescribeACLsRequest()
	d.ResourceType, d.ResourcePatternType, d.Operation, d.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	dr, err := d.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	disabled("DescribeACLs", dr.ErrorCode, dr.ErrorMessage)

	c := kmsg.NewPtrCreateACLsRequest()
	for _, topic := range []string{"a", "b"} {
		cr := kmsg.NewCreateACLsRequestCreation()
		cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = kmsg.ACLResourceTypeTopic, topic, kmsg.ACLResourcePatternTypeLiteral
		cr.Principal, cr.Host, cr.Operation, cr.PermissionType = "User:x", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
		c.Creations = append(c.Creations, cr)
	}
	cresp, err := c.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(cresp.Results) != 2 {
		t.Fatalf("CreateACLs: %d results for 2 creations", len(cresp.Results))
	}
	for _, r := range cresp.Results {
		disabled("CreateACLs", r.ErrorCode, r.ErrorMessage)
	}

	del := kmsg.NewPtrDeleteACLsRequest()
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType, f.Operation, f.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	del.Filters = append(del.Filters, f)
	delresp, err := del.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(delresp.Results) != 1 {
		t.Fatalf("DeleteACLs: %d results for 1 filter", len(delresp.Results))
	}
	disabled("DeleteACLs", delresp.Results[0].ErrorCode, delresp.Results[0].ErrorMessage)
}
