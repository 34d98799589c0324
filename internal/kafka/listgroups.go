package kafka

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// listGroups lists every group: the classic Kafka groups with members and
// every group of the broker's coordinator (HTTP groups, and groups whose
// Kafka members left but whose offsets remain). A cluster node lists the
// groups it coordinates, as a Kafka broker does: a tool asks every broker.
func (s *Server) listGroups(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	resp.SetVersion(req.Version)
	seen := map[string]bool{}
	add := func(id, protocolType, state string) {
		if seen[id] {
			return
		}
		// Seen even when filtered out: the coordinator describes a
		// classic group with members too, which must not be listed again
		// below as an HTTP group.
		seen[id] = true
		if (len(req.StatesFilter) > 0 && !slices.Contains(req.StatesFilter, state)) || s.notCoordinator(id) != 0 {
			return
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState = id, protocolType, state
		resp.Groups = append(resp.Groups, lg)
	}
	gs := s.groups
	gs.mu.Lock()
	for id, g := range gs.byID {
		if len(g.members) > 0 {
			add(id, g.protocolType, g.state.String())
		}
	}
	gs.mu.Unlock()
	for _, d := range s.b.Groups() {
		if len(d.Members) > 0 {
			add(d.ID, protocolTypeHTTP, "Stable")
		} else {
			add(d.ID, protocolTypeConsumer, "Empty")
		}
	}
	return resp, nil
}
