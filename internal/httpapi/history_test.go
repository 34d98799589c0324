package httpapi_test

import (
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

func TestHistoryEndpointsRefuseBadRequests(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	for _, tc := range []struct {
		path string
		want *api.Error
	}{
		{"/groups/nobody/lag-history", api.ErrGroupNotFound},
		{"/groups/nobody/rebalances", api.ErrGroupNotFound},
		{"/groups/g/lag-history?points=0", api.ErrInvalidArgument},
		{"/groups/g/lag-history?since=yesterday", api.ErrInvalidArgument},
		{"/groups/g/lag-history?point=10", api.ErrBadRequest},
		{"/groups/g/lag-history?points=10&points=20", api.ErrInvalidArgument},
	} {
		status, raw := s.Do("GET", tc.path, nil)
		wantError(t, status, raw, tc.want)
	}
}

// A group not sampled yet has an empty history, not a 404; its first join
// is on the rebalance timeline at once (nothing to revoke: it closes as it
// opens), with both partitions moved to the member.
func TestHistoryOfANewGroup(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	var h api.LagHistory
	if status := s.DoJSON("GET", "/groups/g/lag-history?points=10", nil, &h); status != 200 {
		t.Fatalf("lag history: %d", status)
	}
	if h.GroupID != "g" || h.IntervalMS != 10000 || len(h.Times) == 0 || len(h.Lag) != len(h.Times) || h.Partitions == nil {
		t.Fatalf("lag history of a group never sampled: %+v", h)
	}
	var rb api.RebalanceHistory
	s.DoJSON("GET", "/groups/g/rebalances", nil, &rb)
	if len(rb.Rebalances) != 1 || rb.Rebalances[0].Reason != "member_joined" || len(rb.Rebalances[0].Moved) != 2 {
		t.Fatalf("rebalances: %+v; want the join moving 2 partitions", rb)
	}
}
