package kafka_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A classic group in a rebalance is listed once, as what it is: a
// ListGroups filtered to Stable leaves it out rather than listing it
// again as an HTTP group (the coordinator describes a classic group with
// members too, as it runs them).
func TestListGroupsStateFilterOfAClassicGroup(t *testing.T) {
	p := start(t)
	cl := p.client(t)
	createTopic(t, cl, "listed", 1)
	g := staticGroup{t: t, cl: cl, group: "listeds"}
	r1 := g.join("", "s1")
	if s := g.sync(r1.MemberID, "s1", r1.Generation, map[string]string{r1.MemberID: ""}); r1.ErrorCode != 0 || s.ErrorCode != 0 {
		t.Fatalf("join and sync: %v %v", kerr.ErrorForCode(r1.ErrorCode), kerr.ErrorForCode(s.ErrorCode))
	}
	other := staticGroup{t: t, cl: p.client(t), group: "listeds"}
	joined := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { joined <- other.join("", "s2") }() // answered once s1 rejoins
	for deadline := time.Now().Add(30 * time.Second); g.heartbeat(r1.MemberID, "s1", r1.Generation) != kerr.RebalanceInProgress.Code; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("s2's join started no rebalance")
		}
	}
	list := func(states ...string) map[string]string {
		req := kmsg.NewPtrListGroupsRequest()
		req.StatesFilter = states
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("ListGroups %v: %v %+v", states, err, resp)
		}
		out := map[string]string{}
		for _, lg := range resp.Groups {
			if _, twice := out[lg.Group]; twice {
				t.Fatalf("ListGroups %v lists %s twice: %+v", states, lg.Group, resp.Groups)
			}
			out[lg.Group] = lg.ProtocolType + "/" + lg.GroupState
		}
		return out
	}
	if got := list("Stable")["listeds"]; got != "" {
		t.Errorf("ListGroups of Stable groups lists the rebalancing group as %s", got)
	}
	if got := list()["listeds"]; got != "consumer/PreparingRebalance" {
		t.Errorf("ListGroups lists the rebalancing group as %q", got)
	}
	if r := g.join(r1.MemberID, "s1"); r.ErrorCode != 0 {
		t.Fatalf("s1's rejoin: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := <-joined; r.ErrorCode != 0 {
		t.Fatalf("s2's join: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}
