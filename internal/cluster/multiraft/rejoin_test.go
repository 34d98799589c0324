package multiraft_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/cryptotest"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/raftsim"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
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

// TestRepeatedWipesRejoinPromptly wipes nodes again and again — the same
// node several times in a row, each wipe right after the previous rejoin —
// in a cluster whose groups are idle and whose leaders hand leadership back
// to each group's preferred node every few election timeouts, as the
// broker does. Each time, every group must be reconciled (the new replica a
// voter, the forgotten one gone, no joint configuration left) within a few
// election timeouts. A leadership transfer that is running when a leader
// applies its joint configuration makes raft drop its automatic leave, and
// in an idle group nothing applied afterwards retries it.
func TestRepeatedWipesRejoinPromptly(t *testing.T) {
	for _, seed := range simSeeds(t, 6) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			cryptotest.SetGlobalRandom(t, seed)
			groups := []uint64{1, 2, 3}
			var c *raftsim.Cluster
			led := newLedger(func() int64 { return c.Now })
			var err error
			c, err = raftsim.New(rand.New(rand.NewPCG(seed, 11)), raftsim.Options{
				Nodes: 3, Groups: groups,
				NewStateMachine: func(node, group uint64, _ vfs.FS) multiraft.StateMachine {
					return &kv{node: node, group: group, ledger: led}
				},
				Faults:      raftsim.Faults{MinDelay: 1, MaxDelay: 5},
				Host:        multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1, SnapshotEvery: 1000, Quiesce: seed%2 == 0},
				PreferEvery: 12,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := converge(c, groups); err != nil {
				t.Fatal(err)
			}
			// A put per group, so that each wipe loses something to
			// catch up.
			for _, g := range groups {
				if r := proposeThroughTransfers(t, c, g, fmt.Sprintf("p k v%d", g)); r.Err != nil {
					t.Fatalf("seed %d: put: %v", seed, r.Err)
				}
			}
			rng := rand.New(rand.NewPCG(seed, 12))
			for i, victim := range []uint64{3, 3, 1, 3, 2, 3, 3} {
				if err := c.Run(int64(rng.IntN(200))); err != nil { // wipes at every phase of the transfers
					t.Fatal(err)
				}
				c.Wipe(victim)
				if err := c.Restart(victim); err != nil {
					t.Fatal(err)
				}
				// A rejoin costs an election timeout or two (100 units
				// each) to notice and a few round trips to catch up and
				// promote: 20 timeouts is ample, and far less than
				// forever.
				start := c.Now
				for !allConverged(c, groups) {
					if c.Now-start > 2000 {
						t.Fatalf("seed %d: wipe %d (node %d, generation %d) not reconciled after %d units:%s (rerun: GOQUEUE_SIM_SEED=%d go test -run 'TestRepeatedWipesRejoinPromptly' ./internal/cluster/multiraft/)",
							seed, i+1, victim, c.Node(victim).Gen, c.Now-start, describeGroups(c, groups), seed)
					}
					if err := c.Step(); err != nil {
						t.Fatal(err)
					}
				}
				t.Logf("wipe %d of node %d (generation %d): reconciled in %d units", i+1, victim, c.Node(victim).Gen, c.Now-start)
			}
			for _, g := range groups {
				if r := proposeThroughTransfers(t, c, g, "g k"); r.Err != nil || r.Value != fmt.Sprintf("v%d", g) {
					t.Fatalf("seed %d: group %d: get k: %v %v", seed, g, r.Value, r.Err)
				}
			}
		})
	}
}

// proposeThroughTransfers is propose, tried again while a leadership
// transfer makes the leader drop proposals.
func proposeThroughTransfers(t *testing.T, c *raftsim.Cluster, group uint64, cmd string) multiraft.Result {
	t.Helper()
	r := propose(t, c, group, cmd)
	for try := 0; errors.Is(r.Err, multiraft.ErrDropped) && try < 20; try++ {
		if err := c.Run(100); err != nil {
			t.Fatal(err)
		}
		r = propose(t, c, group, cmd)
	}
	return r
}

// TestTransferRequestsDuringARejoin has a leader asked, again and again,
// to hand leadership to a wiped node while that node's new replica is a
// learner, as the broker's preferred-replica logic asks every few seconds.
// The request must not block the rejoin: a transfer aimed at the node's
// forgotten replica would never finish, and while one runs raft drops
// every proposal, the promotion and the automatic leave of the joint
// configuration included — an idle group then stayed joint, its new
// replica never reported as rejoined.
func TestTransferRequestsDuringARejoin(t *testing.T) {
	for _, seed := range simSeeds(t, 4) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			c, _ := quietCluster(t, seed, 3, []uint64{1}, multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1, SnapshotEvery: 1000})
			if r := propose(t, c, 1, "p k v"); r.Err != nil {
				t.Fatal(r.Err)
			}
			l := c.Leader(1)
			w := l%3 + 1
			c.Wipe(w)
			if err := c.Restart(w); err != nil {
				t.Fatal(err)
			}
			start := c.Now
			for !c.Reconciled(1) {
				if c.Now-start > 3000 {
					t.Fatalf("seed %d: not reconciled %d units after node %d's wipe:%s", seed, c.Now-start, w, describeGroups(c, []uint64{1}))
				}
				if lead := c.Leader(1); lead != 0 {
					if cs, err := c.Node(lead).Host.Membership(1); err == nil && len(cs.GetLearners()) > 0 {
						c.Node(lead).Host.TransferLeader(1, w)
					}
				}
				if err := c.Step(); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("reconciled %d units after the wipe", c.Now-start)
		})
	}
}
