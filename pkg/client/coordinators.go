package client

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/abd-ulbasit/goqueue/api"
)

// In a cluster each consumer group is served by one node, its coordinator;
// any other node answers a request naming the group (/groups/{group}/...)
// with 421 NOT_COORDINATOR naming it and its HTTP address (details
// "coordinator", "coordinator_addr"). The transport remembers each group's
// coordinator and sends the group's requests there, following
// NOT_COORDINATOR when what it knew is stale, as it follows NOT_LEADER for
// partitions. So members given different nodes still meet in one group.
// On a single broker nothing is ever refused and requests go to the
// configured brokers, as before clusters.

// asNotCoordinator reports whether err is a NOT_COORDINATOR answer, and
// the coordinator's HTTP address it names ("" if it has none yet).
func asNotCoordinator(err error) (string, bool) {
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.ErrNotCoordinator.Code {
		return "", false
	}
	addr, _ := e.Details["coordinator_addr"].(string)
	return addr, true
}

// groupOf is the group segment of a request path naming one
// ("/groups/{group}" and below, escaped as sent), "" for any other path.
func groupOf(path string) string {
	rest, ok := strings.CutPrefix(path, "/groups/")
	if !ok {
		return ""
	}
	group, _, _ := strings.Cut(rest, "/")
	return group
}

// toCoordinator is doAt for a request of group: sent to the group's
// coordinator if known (any broker if not), following NOT_COORDINATOR to
// the node it names, which is remembered for the group's next requests,
// and waiting out a coordinator's failover (see chase). A coordinator that
// stops answering is forgotten. On a single broker no coordinator is ever
// remembered and nothing changes.
func (t *transport) toCoordinator(ctx context.Context, group, method, path, contentType string, body []byte, out any) error {
	base := ""
	if v, ok := t.coordinators.Load(group); ok {
		base = v.(string)
	}
	_, err := t.chase(ctx, base, redirects{
		to:    asNotCoordinator,
		moved: func(base string) { t.coordinators.Store(group, base) },
		lost:  func(base string) { t.coordinators.CompareAndDelete(group, base) },
	}, method, path, contentType, body, out)
	return err
}

// allGroups lists the groups of every node: a cluster node lists every
// node's it reached (complete), so the others are asked here only when it
// did not reach them all (GET /cluster names them). A node that does not
// answer is left out (its groups are unavailable while it is down
// anyway); on a single broker it is one GET /groups.
func (t *transport) allGroups(ctx context.Context) ([]api.GroupDescription, error) {
	var l api.GroupList
	if err := t.do(ctx, http.MethodGet, "/groups", nil, &l); err != nil {
		return nil, err
	}
	if l.NodeID == 0 || l.Complete {
		return l.Groups, nil // a single broker's, or every node's
	}
	addrs, err := t.nodeAddrs(ctx)
	if err != nil {
		return l.Groups, nil // the cluster cannot say its nodes now: this node's share
	}
	seen := map[string]bool{}
	for _, g := range l.Groups {
		seen[g.GroupID] = true
	}
	for id, addr := range addrs {
		if id == l.NodeID || addr == "" {
			continue
		}
		var theirs api.GroupList
		err := t.doAt(ctx, t.baseURL(addr), http.MethodGet, "/groups", "", nil, &theirs)
		if errors.Is(err, ErrUnreachable) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, g := range theirs.Groups {
			if !seen[g.GroupID] {
				seen[g.GroupID] = true
				l.Groups = append(l.Groups, g)
			}
		}
	}
	slices.SortFunc(l.Groups, func(a, b api.GroupDescription) int { return strings.Compare(a.GroupID, b.GroupID) })
	return l.Groups, nil
}
