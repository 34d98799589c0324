package multiraft_test

import (
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/raftsim"
)

// A node leading quiet groups is killed and started again at once; the
// others elect new leaders, which soon hand the groups back to it (as
// partitions go back to their preferred replica), and it lets them
// quiesce, all while the others still report its restart (a window of 60
// ticks here: the real node's 2 s are 100 of the tests' 20 ms ticks). Told
// of the restart, the others must not depose it: their quiet replicas wake
// and tell their leader, which heartbeats (PeerRestarted). Waking them as
// for a dead leader (PeerDown) made them campaign at their next tick, and
// leadership changed hands again.
func TestQuietGroupsKeepTheLeaderThatRestarted(t *testing.T) {
	groups := []uint64{1, 2, 3, 4, 5, 6}
	c, _ := quietClusterWith(t, 8, 3, groups, multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1, Quiesce: true},
		func(k *kv) multiraft.StateMachine { return k }, func(o *raftsim.Options) { o.RestartTicks = 60 })
	for _, g := range groups {
		if r := propose(t, c, g, "p k v"); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if err := c.Run(1000); err != nil {
		t.Fatal(err)
	}
	x := c.Leader(1)
	c.Crash(x)
	if err := c.Restart(x); err != nil {
		t.Fatal(err)
	}
	if err := c.Run(250); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if l := c.Leader(g); l != 0 && l != x {
			c.Node(l).Host.TransferLeader(g, x)
		}
	}
	if err := c.Run(80); err != nil { // leaders, quiet again, inside the window
		t.Fatal(err)
	}
	if err := c.Run(300); err != nil {
		t.Fatal(err)
	}
	terms := map[uint64]uint64{}
	for _, g := range groups {
		if l := c.Leader(g); l != x {
			t.Fatalf("group %d: leader %d after node %d restarted and was handed the group back", g, l, x)
		}
		st, _ := c.Node(x).Host.Status(g)
		terms[g] = st.Term
	}
	if err := c.Run(3000); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		st, _ := c.Node(x).Host.Status(g)
		if !st.IsLeader || st.Term != terms[g] {
			t.Errorf("group %d: node %d leader %v at term %d, term %d before: deposed after its restart", g, x, st.IsLeader, st.Term, terms[g])
		}
	}
	for _, n := range c.Nodes {
		if q := n.Host.Quiet(); q != len(groups) {
			t.Errorf("node %d: %d of %d groups quiet once settled", n.ID, q, len(groups))
		}
	}
}
