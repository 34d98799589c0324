package multiraft_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

// TestWipedReplicaNeverVotesWithLostState is the case that makes a wiped
// node dangerous: writes acknowledged by the leader L and follower B while
// follower A was cut off; then L crashes and B loses its disk. Under its
// old identity an empty B would vote for A, whose log lacks the writes,
// and A would lead and overwrite them. As a new generation B is no voter:
// A stays without a majority until L returns, and every acknowledged write
// is read back. The forgotten replica is removed, the new one promoted,
// and a leader whose metadata is stale (wanting B's old generation) does
// nothing.
func TestWipedReplicaNeverVotesWithLostState(t *testing.T) {
	c, _ := quietCluster(t, 5, 3, []uint64{1}, multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1, SnapshotEvery: 1000})
	l := c.Leader(1)
	a, b := l%3+1, (l+1)%3+1
	c.Net.Isolate(a, c.IDs())
	for i := range 10 {
		if r := propose(t, c, 1, fmt.Sprintf("p k%d v%d", i, i)); r.Err != nil {
			t.Fatalf("put %d: %v", i, r.Err)
		}
	}
	c.Crash(l)
	c.Wipe(b)
	if err := c.Restart(b); err != nil {
		t.Fatal(err)
	}
	c.Net.Heal()
	for range 40 {
		if err := c.Run(100); err != nil {
			t.Fatal(err)
		}
		if lead := c.Leader(1); lead != 0 {
			t.Fatalf("node %d leads without node %d: a wiped replica voted", lead, l)
		}
	}
	if err := c.Restart(l); err != nil {
		t.Fatal(err)
	}
	if err := converge(c, []uint64{1}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if r := propose(t, c, 1, fmt.Sprintf("g k%d", i)); r.Err != nil || r.Value != fmt.Sprintf("v%d", i) {
			t.Fatalf("get k%d: %v %v, want v%d", i, r.Value, r.Err, i)
		}
	}
	lead := c.Leader(1)
	cs, err := c.Node(lead).Host.Membership(1)
	if err != nil {
		t.Fatal(err)
	}
	newB := multiraft.ReplicaID(b, 1)
	if !slices.Contains(cs.GetVoters(), newB) || slices.Contains(cs.GetVoters(), b) {
		t.Fatalf("voters %v: want %s in, %s out", cs.GetVoters(), multiraft.FormatReplica(newB), multiraft.FormatReplica(b))
	}
	stale := []uint64{1, 2, 3}
	changed, err := c.Node(lead).Host.Reconfigure(1, stale)
	if err != nil || changed {
		t.Fatalf("reconfigure towards a stale want %v: changed %v, %v", stale, changed, err)
	}
}

func TestReplicaIDs(t *testing.T) {
	id := multiraft.ReplicaID(7, 3)
	if multiraft.NodeOf(id) != 7 || multiraft.GenOf(id) != 3 || multiraft.FormatReplica(id) != "7.3" || multiraft.ReplicaID(7, 0) != 7 {
		t.Fatalf("replica ID %d: node %d gen %d %s", id, multiraft.NodeOf(id), multiraft.GenOf(id), multiraft.FormatReplica(id))
	}
}
