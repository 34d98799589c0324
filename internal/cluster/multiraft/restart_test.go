package multiraft_test

import (
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/raftsim"
)

// restartCluster is a 3-node world whose six groups, written once, are
// quiet everywhere.
func restartCluster(t *testing.T, seed uint64) (*raftsim.Cluster, []uint64) {
	t.Helper()
	groups := []uint64{1, 2, 3, 4, 5, 6}
	c, _ := quietCluster(t, seed, 3, groups, multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1, Quiesce: true})
	for _, g := range groups {
		if r := propose(t, c, g, "p k v"); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if err := c.Run(1000); err != nil {
		t.Fatal(err)
	}
	allQuiet(t, c, len(groups), "after idling")
	return c, groups
}

func allQuiet(t *testing.T, c *raftsim.Cluster, groups int, when string) {
	t.Helper()
	for _, n := range c.Nodes {
		if n.Up() {
			if q := n.Host.Quiet(); q != groups {
				t.Fatalf("node %d: %d of %d groups quiet %s", n.ID, q, groups, when)
			}
		}
	}
}

// The node leading quiet groups is killed and started at once, and starts
// hosting nothing (as a real node that lost its disk does until the
// metadata gives it a generation): no keepalive goes missing and no wake
// note comes. Only the report of its restart can tell the others that the
// leader they follow is gone; without it the groups stay leaderless.
func TestQuietGroupsElectWhenTheirLeaderRestartsBare(t *testing.T) {
	c, groups := restartCluster(t, 6)
	x := c.Leader(1)
	c.Crash(x)
	if err := c.RestartBare(x); err != nil {
		t.Fatal(err)
	}
	if err := c.Run(1000); err != nil { // 100 ticks, 10 election timeouts
		t.Fatal(err)
	}
	for _, g := range groups {
		if l := c.Leader(g); l == 0 || l == x {
			t.Errorf("group %d: leader %d 100 ticks after node %d, its leader, came back bare", g, l, x)
		}
	}
}

// A report of a restart may come late — a dial's backoff after the peer
// died reaches 2 s — by when the restarted node may lead again (the others
// elected leaders, which hand the groups back to it as partitions go back
// to their preferred replica) and its groups be quiet. Told then, the
// others must not depose it: their quiet replicas wake and tell their
// leader, which heartbeats (PeerRestarted). Waking them as for a dead
// leader (PeerDown) made them campaign at their next tick.
func TestLateRestartReportKeepsTheLeader(t *testing.T) {
	c, groups := restartCluster(t, 8)
	x := c.Leader(1)
	c.Crash(x)
	if err := c.Restart(x); err != nil {
		t.Fatal(err)
	}
	if err := c.Run(300); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if l := c.Leader(g); l != 0 && l != x {
			c.Node(l).Host.TransferLeader(g, x)
		}
	}
	if err := c.Run(1000); err != nil {
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
	allQuiet(t, c, len(groups), "with node x leading again")
	for _, n := range c.Nodes {
		if n.ID != x {
			n.Host.PeerRestarted(x)
		}
	}
	if err := c.Run(3000); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		st, _ := c.Node(x).Host.Status(g)
		if !st.IsLeader || st.Term != terms[g] {
			t.Errorf("group %d: node %d leader %v at term %d, term %d before: deposed by a late restart report", g, x, st.IsLeader, st.Term, terms[g])
		}
	}
	allQuiet(t, c, len(groups), "once settled")
}

// A quiet group whose leader dies elects a new one about as fast as an
// awake group does: the detector counts the leader down after an election
// timeout of silence, as an awake follower's own clock would. Its
// followers used to wake with clocks aged far past the timeout and all
// campaign at their next tick, splitting the vote and losing another
// election timeout in most runs (median 238 time units against 132 awake,
// over these seeds; wakeToElect).
//
// skewed: one follower's detector fires an election timeout before the
// other's (real detectors fire up to ~350 ms apart). Its pre-vote then
// wakes the other while still quiet, which restarts that follower's clock
// as if the dead leader had spoken and drops the pre-vote; that follower's
// own detector must undo it (median 172 units without, 143 with).
func TestQuietGroupFailsOverAsFastAsAnAwakeOne(t *testing.T) {
	median := func(quiesce, skewed bool) int64 {
		var took []int64
		for seed := uint64(1); seed <= 21; seed++ {
			c, _ := quietCluster(t, seed, 3, []uint64{1}, multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1, Quiesce: quiesce})
			if r := propose(t, c, 1, "p k v"); r.Err != nil {
				t.Fatal(r.Err)
			}
			if err := c.Run(1000); err != nil {
				t.Fatal(err)
			}
			dead := c.Leader(1)
			c.Crash(dead)
			if skewed {
				c.Node(dead%3 + 1).Host.PeerDown(dead)
			}
			start := c.Now
			for l := c.Leader(1); l == 0 || l == dead; l = c.Leader(1) {
				if c.Now-start > 5000 {
					t.Fatalf("seed %d: no new leader in 5000 units (quiesce %v, skewed %v)", seed, quiesce, skewed)
				}
				if err := c.Step(); err != nil {
					t.Fatal(err)
				}
			}
			took = append(took, c.Now-start)
		}
		slices.Sort(took)
		return took[len(took)/2]
	}
	awake, quiet, skewed := median(false, false), median(true, false), median(true, true)
	t.Logf("median time units from the leader's death to a new leader: awake %d, quiet %d, quiet with skewed detectors %d", awake, quiet, skewed)
	if quiet > awake+50 { // half an election timeout
		t.Errorf("quiet groups fail over in %d units at the median, awake ones in %d", quiet, awake)
	}
	if skewed > awake+25 {
		t.Errorf("quiet groups with skewed detectors fail over in %d units at the median, awake ones in %d", skewed, awake)
	}
}
