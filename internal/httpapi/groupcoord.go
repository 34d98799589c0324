package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/abd-ulbasit/goqueue/api"
)

// GroupCoordinators is what a cluster node's Cluster also offers when its
// nodes share consumer groups: which node coordinates each group. A group
// lives on its coordinator alone (members, assignment, in flight,
// committed offsets), so every other node has it serve the group's
// requests (GroupForwarder), or refuses them with NOT_COORDINATOR naming it,
// and two members that reached two nodes still form one group. A
// Cluster without it (and a single broker) serves
// every group itself.
type GroupCoordinators interface {
	// Coordinator is the node coordinating group; false while none is
	// known: the group's state is electing a leader, or its new leader,
	// this node, is taking its groups over (in a rolling restart, for a
	// moment each time a node stops or starts).
	Coordinator(group string) (uint64, bool)
}

// GroupLister is what a cluster node's Cluster also offers to list the
// cluster's groups (GET /groups): those the other nodes coordinate, and
// the nodes that did not answer.
type GroupLister interface {
	PeerGroups(ctx context.Context) ([]api.GroupDescription, []uint64)
}

// coordinators is the cluster's group placement, nil if groups are this
// broker's alone.
func (s *Server) coordinators() GroupCoordinators {
	gc, _ := s.opts.Cluster.(GroupCoordinators)
	return gc
}

// coordinated wraps the handler of a route naming a {group}: on a cluster
// node it serves only groups this node coordinates, and has the
// coordinator serve the others (onCoordinator), or refuses them. It runs
// after the key's permissions are checked, so a request is passed on, and
// a refusal names a coordinator, only for callers allowed to use the
// group.
func (s *Server) coordinated(rt route) handlerFunc {
	if !strings.Contains(rt.pattern, "{group}") || s.coordinators() == nil {
		return rt.h
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		group := r.PathValue("group")
		err := s.checkCoordinator(group)
		if err == nil {
			return rt.h(w, r)
		}
		if id, ok := s.coordinators().Coordinator(group); ok && id != s.opts.Cluster.ID() {
			if served, ferr := s.onCoordinator(w, r, group, id); served || ferr != nil {
				return ferr
			}
		}
		return err
	}
}

// checkCoordinator refuses a group another node coordinates with
// NOT_COORDINATOR (retriable; details: coordinator and, once it has
// registered one, coordinator_addr, its HTTP address), and answers
// UNAVAILABLE while no coordinator is known.
func (s *Server) checkCoordinator(group string) error {
	gc := s.coordinators()
	if gc == nil {
		return nil
	}
	id, ok := gc.Coordinator(group)
	self := s.opts.Cluster.ID()
	switch {
	case !ok:
		return api.ErrUnavailable.Withf("node %d knows no coordinator of group %s yet (one is being elected or is taking the group over); retry", self, group).
			WithDetail("group", group)
	case id == self:
		return nil
	}
	e := api.ErrNotCoordinator.Withf("node %d does not coordinate group %s; node %d does", self, group, id).
		WithDetail("group", group).WithDetail("coordinator", id)
	if addr := s.opts.Cluster.HTTPAddr(id); addr != "" {
		e = e.WithDetail("coordinator_addr", addr)
	}
	return e
}

// coordinates reports whether this node serves group: always on a single
// broker.
func (s *Server) coordinates(group string) bool {
	return s.checkCoordinator(group) == nil
}
