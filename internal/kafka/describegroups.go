package kafka

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// protocolTypeHTTP is the protocol type a group of HTTP members shows to
// Kafka tools.
const protocolTypeHTTP = "goqueue-http"

// protocolTypeConsumer is the protocol type of Kafka's consumers, whose
// member metadata and assignments have a known encoding.
const protocolTypeConsumer = "consumer"

// describeGroups describes classic Kafka groups, and HTTP groups as far as
// Kafka's shape allows; an unknown group is "Dead", as Kafka says it.
func (s *Server) describeGroups(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	resp.SetVersion(req.Version)
	for _, id := range req.Groups {
		resp.Groups = append(resp.Groups, s.describeGroup(id))
	}
	return resp, nil
}

func (s *Server) describeGroup(id string) kmsg.DescribeGroupsResponseGroup {
	dg := kmsg.NewDescribeGroupsResponseGroup()
	dg.Group = id
	if dg.ErrorCode = s.notCoordinator(id); dg.ErrorCode != 0 {
		return dg
	}
	gs := s.groups
	gs.mu.Lock()
	g := gs.lookup(id)
	if g != nil && len(g.members) > 0 {
		dg.State, dg.ProtocolType, dg.Protocol = g.state.String(), g.protocolType, g.protocol
		for _, mid := range slices.Sorted(mapKeys(g.members)) {
			m := g.members[mid]
			dm := kmsg.NewDescribeGroupsResponseGroupMember()
			dm.MemberID, dm.ClientID, dm.ClientHost = m.id, m.clientID, m.host
			if m.instanceID != "" {
				iid := m.instanceID
				dm.InstanceID = &iid
			}
			dm.ProtocolMetadata, dm.MemberAssignment = m.metadata(g.protocol), m.assignment
			dg.Members = append(dg.Members, dm)
		}
		gs.mu.Unlock()
		return dg
	}
	gs.mu.Unlock()
	d, err := s.b.DescribeGroup(id)
	if err != nil {
		dg.State = "Dead"
		return dg
	}
	dg.State, dg.ProtocolType = "Empty", protocolTypeConsumer
	if len(d.Members) > 0 {
		dg.State, dg.ProtocolType = "Stable", protocolTypeHTTP
	}
	for _, m := range d.Members {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.ClientID, dm.ClientHost = m.MemberID, m.ClientID, m.ClientHost
		dg.Members = append(dg.Members, dm)
	}
	return dg
}
