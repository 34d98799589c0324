package kafka

import "github.com/twmb/franz-go/pkg/kerr"

// In a cluster each consumer group has one coordinator node (Cluster's
// Coordinator), which alone holds the group: every group request for a
// group another node coordinates is refused with NOT_COORDINATOR, on which
// Kafka clients ask FindCoordinator again and go there. A single broker
// coordinates every group.

// coordinator is the node ID coordinating group, and the code a group
// request for it gets on this node: 0 if this node coordinates it,
// NOT_COORDINATOR if another does, COORDINATOR_NOT_AVAILABLE while the
// cluster's nodes are not known yet.
func (s *Server) coordinator(group string) (int32, int16) {
	if s.opts.Cluster == nil {
		return s.opts.NodeID, 0
	}
	id, ok := s.opts.Cluster.Coordinator(group)
	switch {
	case !ok:
		return -1, kerr.CoordinatorNotAvailable.Code
	case id != s.opts.Cluster.ID():
		return int32(id), kerr.NotCoordinator.Code
	}
	return int32(id), 0
}

// notCoordinator is the code a request for group gets here: 0 if this
// node coordinates it (see coordinator).
func (s *Server) notCoordinator(group string) int16 {
	_, code := s.coordinator(group)
	return code
}
