package multiraft_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/cryptotest"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/raftsim"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// quietCluster starts nodes hosting groups over a network that only delays.
func quietCluster(t *testing.T, seed uint64, nodes int, groups []uint64, cfg multiraft.Config) (*raftsim.Cluster, *ledger) {
	t.Helper()
	return quietClusterOf(t, seed, nodes, groups, cfg, multiraft.SyncEachPass)
}

// quietClusterOf is quietCluster with groups of durability d.
func quietClusterOf(t *testing.T, seed uint64, nodes int, groups []uint64, cfg multiraft.Config, d multiraft.Durability) (*raftsim.Cluster, *ledger) {
	t.Helper()
	return quietClusterWith(t, seed, nodes, groups, cfg, func(k *kv) multiraft.StateMachine {
		k.durability = d
		return k
	})
}

// quietClusterWith is quietCluster with each group's kv made into the
// state machine sm returns, and the world's options changed by tune.
func quietClusterWith(t *testing.T, seed uint64, nodes int, groups []uint64, cfg multiraft.Config, sm func(*kv) multiraft.StateMachine, tune ...func(*raftsim.Options)) (*raftsim.Cluster, *ledger) {
	t.Helper()
	cryptotest.SetGlobalRandom(t, seed)
	var c *raftsim.Cluster
	led := newLedger(func() int64 { return c.Now })
	var err error
	opts := raftsim.Options{
		Nodes: nodes, Groups: groups,
		NewStateMachine: func(node, group uint64, _ vfs.FS) multiraft.StateMachine {
			return sm(&kv{node: node, group: group, ledger: led})
		},
		Faults: raftsim.Faults{MinDelay: 1, MaxDelay: 5},
		Host:   cfg,
	}
	for _, f := range tune {
		f(&opts)
	}
	c, err = raftsim.New(rand.New(rand.NewPCG(seed, 7)), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := converge(c, groups); err != nil {
		t.Fatal(err)
	}
	return c, led
}

// powerLoss cuts every node's power at once, losing every unsynced byte,
// restarts them all and waits until groups converge.
func powerLoss(t *testing.T, c *raftsim.Cluster, groups []uint64) {
	t.Helper()
	for _, id := range c.IDs() {
		c.Node(id).Disk.Crash(nil) // nothing unsynced survives
		c.Crash(id)
	}
	for _, id := range c.IDs() {
		if err := c.Restart(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := converge(c, groups); err != nil {
		t.Fatal(err)
	}
}

// propose proposes cmd on group's leader and runs the world until it is
// settled, retrying while there is no leader.
func propose(t *testing.T, c *raftsim.Cluster, group uint64, cmd string) multiraft.Result {
	t.Helper()
	for range 100 {
		var res *multiraft.Result
		c.Propose(max(c.Leader(group), 1), group, []byte(cmd), func(r multiraft.Result) { res = &r })
		for res == nil {
			if err := c.Step(); err != nil {
				t.Fatal(err)
			}
		}
		var nl *multiraft.NotLeaderError
		if res.Err == nil || !errors.As(res.Err, &nl) {
			return *res
		}
		if err := c.Run(50); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("%q: no leader took it", cmd)
	return multiraft.Result{}
}

// TestAcknowledgedWritesSurviveClusterPowerLoss acknowledges writes, then
// cuts the power of every node at once, losing every unsynced byte: what was
// acknowledged must be read back. It fails if Process acknowledges, or a
// follower answers an append, before it syncs.
func TestAcknowledgedWritesSurviveClusterPowerLoss(t *testing.T) {
	c, _ := quietCluster(t, 1, 3, []uint64{1}, multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1, SnapshotEvery: 1000})
	for i := range 20 {
		if r := propose(t, c, 1, fmt.Sprintf("p k%d v%d", i, i)); r.Err != nil {
			t.Fatalf("put %d: %v", i, r.Err)
		}
	}
	powerLoss(t, c, []uint64{1})
	for i := range 20 {
		r := propose(t, c, 1, fmt.Sprintf("g k%d", i))
		if r.Err != nil || r.Value != fmt.Sprintf("v%d", i) {
			t.Fatalf("get k%d after power loss: %v %v, want v%d", i, r.Value, r.Err, i)
		}
	}
}

// TestQuietGroupsElectWhenTheirLeaderDies lets ten groups quiesce, then
// kills the node leading them: the failure detector must wake the
// followers, which elect new leaders that take writes. Without PeerDown the
// groups would stay leaderless for ever.
func TestQuietGroupsElectWhenTheirLeaderDies(t *testing.T) {
	groups := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	c, _ := quietCluster(t, 2, 3, groups, multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1, Quiesce: true})
	for _, g := range groups {
		if r := propose(t, c, g, "p k v"); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if err := c.Run(300); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		if q := n.Host.Quiet(); q != len(groups) {
			t.Fatalf("node %d: %d of %d groups quiet after idling", n.ID, q, len(groups))
		}
	}
	sent := c.Net.Sent
	if err := c.Run(1000); err != nil {
		t.Fatal(err)
	}
	if pings := int64(c.Net.Sent - sent); pings != 0 {
		t.Fatalf("%d Raft messages sent by quiet groups", pings)
	}
	dead := c.Leader(1)
	c.Crash(dead)
	// No client touches the groups (a proposal would wake a follower too):
	// only the failure detector can.
	if err := c.Run(1000); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if l := c.Leader(g); l == dead || l == 0 {
			t.Fatalf("group %d: no new leader after its leader died (leader %d)", g, l)
		}
	}
	for _, g := range groups {
		r := propose(t, c, g, "p k w")
		if r.Err != nil {
			t.Fatalf("group %d after its leader died: %v", g, r.Err)
		}
	}
}

// TestQuietGroupsWakeWithoutElection lets groups quiesce for a long time,
// then reads from a follower, proposes to a follower and writes through the
// leader: nothing of it may cause an election (a woken follower must wake
// its leader; the leader's CheckQuorum must not depose it for the silence
// it asked for).
func TestQuietGroupsWakeWithoutElection(t *testing.T) {
	groups := []uint64{1, 2, 3, 4, 5}
	c, _ := quietCluster(t, 4, 3, groups, multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1, Quiesce: true})
	terms := map[uint64]uint64{}
	for _, g := range groups {
		if r := propose(t, c, g, "p k v"); r.Err != nil {
			t.Fatal(r.Err)
		}
		st, _ := c.Node(c.Leader(g)).Host.Status(g)
		terms[g] = st.Term
	}
	for round := range 3 {
		if err := c.Run(2000); err != nil { // 200 ticks: 20 election timeouts of silence
			t.Fatal(err)
		}
		for _, n := range c.Nodes {
			if q := n.Host.Quiet(); q != len(groups) {
				t.Fatalf("round %d: node %d has %d of %d groups quiet", round, n.ID, q, len(groups))
			}
		}
		for _, g := range groups {
			// A client that asks a follower, for a write or for a read,
			// must not set off an election either.
			follower := c.Leader(g)%3 + 1
			c.Propose(follower, g, []byte("p k x"), func(multiraft.Result) {})
			readDone := false
			c.ReadIndex(follower, g, func(err error) {
				if err != nil {
					t.Errorf("read on follower %d: %v", follower, err)
				}
				readDone = true
			})
			for !readDone {
				if err := c.Step(); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Run(1000); err != nil {
				t.Fatal(err)
			}
			if r := propose(t, c, g, fmt.Sprintf("p k w%d", round)); r.Err != nil {
				t.Fatalf("round %d group %d: %v", round, g, r.Err)
			}
			if err := c.Run(300); err != nil {
				t.Fatal(err)
			}
			st, _ := c.Node(c.Leader(g)).Host.Status(g)
			if st.Term != terms[g] {
				t.Fatalf("round %d group %d: term %d → %d: waking caused an election", round, g, terms[g], st.Term)
			}
		}
	}
}

// TestFailoverTicks kills the leader of a group running with the default
// timing (elections after 20 ticks, heartbeats every 2) and logs how many
// ticks pass until a new leader commits a write — a figure, not a bound
// (it must only happen).
func TestFailoverTicks(t *testing.T) {
	c, _ := quietCluster(t, 5, 3, []uint64{1}, multiraft.Config{})
	if r := propose(t, c, 1, "p k v"); r.Err != nil {
		t.Fatal(r.Err)
	}
	dead := c.Leader(1)
	c.Crash(dead)
	start := c.Now
	for {
		if err := c.Step(); err != nil {
			t.Fatal(err)
		}
		if l := c.Leader(1); l != 0 && l != dead {
			break
		}
		if c.Now-start > 100000 {
			t.Fatal("no new leader")
		}
	}
	elected := c.Now
	if r := propose(t, c, 1, "p k w"); r.Err != nil {
		t.Fatal(r.Err)
	}
	t.Logf("leader killed → new leader in %d ticks, → first write committed in %d ticks (×100 ms with Node's tick)",
		(elected-start)/10, (c.Now-start)/10)
}

// TestLeaderSendsAppendsBeforeItsSync proposes on a leader and runs its
// pass by hand: the appends carrying the entry must be handed out early,
// before the pass syncs, so the leader's fsync overlaps its followers'
// instead of adding to every commit's latency.
func TestLeaderSendsAppendsBeforeItsSync(t *testing.T) {
	c, _ := quietCluster(t, 6, 3, []uint64{1}, multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1})
	h := c.Node(c.Leader(1)).Host
	h.Propose(1, []byte("p k v"), func(multiraft.Result) {})
	var early []multiraft.Envelope
	out, err := h.Process(func(envs []multiraft.Envelope) { early = append(early, envs...) })
	if err != nil {
		t.Fatal(err)
	}
	to := map[uint64]bool{}
	for _, e := range early {
		if e.Msg.GetType() == pb.MsgApp && len(e.Msg.GetEntries()) > 0 {
			to[e.Msg.GetTo()] = true
		}
	}
	if len(to) != 2 {
		t.Fatalf("appends sent early to %v (early %d, after the sync %d messages), want both followers", to, len(early), len(out))
	}
	for _, e := range out {
		if e.Msg.GetType() == pb.MsgApp {
			t.Fatalf("an append waited for the leader's sync: %v", e.Msg)
		}
	}
}

// TestSyncOnFlushEntriesAreDurableAfterFlush acknowledges writes to groups
// that sync on a flush (topics with fsync=interval), then cuts every
// node's power: the writes are lost, since no pass synced them (were they
// synced, the group would pay an fsync per commit); once every node has
// flushed, a power loss keeps them.
func TestSyncOnFlushEntriesAreDurableAfterFlush(t *testing.T) {
	c, _ := quietClusterOf(t, 7, 3, []uint64{1}, multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1, SnapshotEvery: 1000}, multiraft.SyncOnFlush)
	kept := func(round int) (n int) {
		powerLoss(t, c, []uint64{1})
		for i := range 10 {
			if r := propose(t, c, 1, fmt.Sprintf("g r%d.k%d", round, i)); r.Err == nil && r.Value == "v" {
				n++
			}
		}
		return n
	}
	for i := range 10 {
		if r := propose(t, c, 1, fmt.Sprintf("p r0.k%d v", i)); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if n := kept(0); n == 10 {
		t.Fatal("every unflushed write survived a power loss: the group synced each pass")
	}
	for i := range 10 {
		if r := propose(t, c, 1, fmt.Sprintf("p r1.k%d v", i)); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	for _, n := range c.Nodes {
		if err := n.Host.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if n := kept(1); n != 10 {
		t.Fatalf("%d of 10 flushed writes survived a power loss", n)
	}
}

// TestFollowerThatLostAcknowledgedEntriesCatchesUp cuts the power of one
// follower of a group that syncs on a flush, so it loses entries it had
// acknowledged. etcd raft's leader ignores a follower's rejections below
// what it acknowledged, so without help it would never send them again;
// the host hands leadership to an up-to-date voter, whose fresh view of
// the follower brings it back.
func TestFollowerThatLostAcknowledgedEntriesCatchesUp(t *testing.T) {
	c, _ := quietClusterOf(t, 8, 3, []uint64{1}, multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1, SnapshotEvery: 1000}, multiraft.SyncOnFlush)
	for i := range 10 {
		if r := propose(t, c, 1, fmt.Sprintf("p k%d v", i)); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	follower := c.Leader(1)%3 + 1
	c.Node(follower).Disk.Crash(nil)
	c.Crash(follower)
	if err := c.Restart(follower); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		// A proposal made while the leadership moves is dropped: retry.
		for try := 0; ; try++ {
			r := propose(t, c, 1, fmt.Sprintf("p j%d v", i))
			if r.Err == nil {
				break
			}
			if !errors.Is(r.Err, multiraft.ErrDropped) || try == 10 {
				t.Fatal(r.Err)
			}
			if err := c.Run(50); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := converge(c, []uint64{1}); err != nil {
		t.Fatal(err)
	}
}

// TestReadsAskedTogetherShareOneRound asks a leader for ten reads between
// two passes: they must cost one round of read heartbeats (one per
// follower), not ten, and all be answered.
func TestReadsAskedTogetherShareOneRound(t *testing.T) {
	c, _ := quietCluster(t, 9, 3, []uint64{1}, multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1})
	leader := c.Leader(1)
	answered := 0
	for range 10 {
		c.ReadIndex(leader, 1, func(err error) {
			if err != nil {
				t.Errorf("read: %v", err)
			}
			answered++
		})
	}
	out, err := c.Node(leader).Host.Process(nil)
	if err != nil {
		t.Fatal(err)
	}
	rounds := 0
	for _, e := range out {
		if e.Msg.GetType() == pb.MsgHeartbeat && len(e.Msg.GetContext()) > 0 {
			rounds++
		}
	}
	if rounds != 2 {
		t.Fatalf("%d read heartbeats for ten reads on a 3-node group, want 2 (one round)", rounds)
	}
	for range 1000 {
		if answered == 10 {
			return
		}
		if err := c.Step(); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("%d of 10 reads answered", answered)
}

// A read is answered by the leader elected after its own leader crashed,
// not left to time out, whether it was asked while the node still
// believed in the dead leader (raft forgets the requests of a term that
// is over: it is asked again of the next) or once the node had given it
// up (raft drops a request while no leader is known: the host asks only
// once one is).
func TestReadAcrossALeaderCrash(t *testing.T) {
	for _, tc := range []struct {
		name       string
		leaderless bool // ask once the asker knows no leader
	}{
		{"asked of the dead leader", false},
		{"asked with no leader known", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := quietCluster(t, 11, 3, []uint64{1}, multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1})
			if r := propose(t, c, 1, "p k v"); r.Err != nil {
				t.Fatal(r.Err)
			}
			dead := c.Leader(1)
			c.Crash(dead)
			asker := dead%3 + 1
			want := dead
			if tc.leaderless {
				want = 0
			}
			for {
				st, err := c.Node(asker).Host.Status(1)
				if err != nil {
					t.Fatal(err)
				}
				if st.Leader == want {
					break
				}
				if !tc.leaderless {
					t.Fatalf("node %d: leader %d, want it still to believe in %d", asker, st.Leader, dead)
				}
				if err := c.Step(); err != nil {
					t.Fatal(err)
				}
			}
			if err := readOn(t, c, asker, 1); err != nil {
				t.Fatalf("a read on node %d: %v, want it answered by the next leader", asker, err)
			}
		})
	}
}

// readOn asks node for a read of group and runs the cluster until it is
// answered, at most 1,000 ticks (fifty times a read's timeout there).
func readOn(t *testing.T, c *raftsim.Cluster, node, group uint64) error {
	t.Helper()
	var readErr error
	done := false
	c.ReadIndex(node, group, func(err error) { readErr, done = err, true })
	for steps := 0; !done; steps++ {
		if steps > 10000 {
			t.Fatal("the read was never answered")
		}
		if err := c.Step(); err != nil {
			t.Fatal(err)
		}
	}
	return readErr
}
