package multiraft_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/raftsim"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// simSeeds is how many seeds a run tries: a few by default, many with
// GOQUEUE_SIM_SEEDS=N. GOQUEUE_SIM_SEED=S runs seed S alone.
func simSeeds(t *testing.T, def int) []uint64 {
	if v, err := strconv.ParseUint(os.Getenv("GOQUEUE_SIM_SEED"), 10, 64); err == nil {
		return []uint64{v}
	}
	n := def
	if v, err := strconv.Atoi(os.Getenv("GOQUEUE_SIM_SEEDS")); err == nil && v > 0 {
		n = v
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	return seeds
}

// TestSimulatedClusterIsLinearizable runs clusters of 3 or 5 nodes hosting
// three groups each through a storm of faults — messages dropped, delayed,
// duplicated and reordered, links cut and healed, nodes crashed between and
// in the middle of their writes and restarted from what their disks kept —
// while clients put and get keys. Then the network heals and every node
// restarts, and it checks:
//   - no two nodes ever applied different commands at one index (ledger);
//   - every acknowledged put is in the ledger at the index it was
//     acknowledged for;
//   - the history of client operations — puts, gets through the log, and
//     ReadIndex reads served by any node — with a final read of every key,
//     is linearizable (porcupine): no acknowledged write lost, no stale read;
//   - the cluster converges: a leader per group, and every replica's state
//     identical.
//
// A failure prints its seed; GOQUEUE_SIM_SEED=<seed> reruns it alone.
func TestSimulatedClusterIsLinearizable(t *testing.T) {
	for _, seed := range simSeeds(t, 10) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			cryptotest.SetGlobalRandom(t, seed) // raft's election jitter
			if err := runSimRecover(t, seed, new(string), false); err != nil {
				t.Fatalf("seed %d: %v (rerun: GOQUEUE_SIM_SEED=%d go test -run 'TestSimulatedClusterIsLinearizable' ./internal/cluster/multiraft/)", seed, err, seed)
			}
		})
	}
}

// TestSimulatedWipedNodesRejoin is the storm of
// TestSimulatedClusterIsLinearizable with one more fault: a node loses its
// whole disk (Wipe) and restarts empty, as a replaced machine does. It
// comes back as a new generation of replicas that the groups' leaders add
// as learners, catch up and promote while removing the forgotten replica
// (multiraft.Reconfigure). The same checks hold — nothing acknowledged
// lost, linearizable, identical replicas — and after healing every group
// is reconciled: its voters are exactly every node's current replica.
// A disk is wiped only while every group is reconciled: losing a second
// copy before the first is rebuilt is more than a 3-node group survives.
func TestSimulatedWipedNodesRejoin(t *testing.T) {
	for _, seed := range simSeeds(t, 8) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			cryptotest.SetGlobalRandom(t, seed)
			if err := runSimRecover(t, seed, new(string), true); err != nil {
				t.Fatalf("seed %d: %v (rerun: GOQUEUE_SIM_SEED=%d go test -run 'TestSimulatedWipedNodesRejoin' ./internal/cluster/multiraft/)", seed, err, seed)
			}
		})
	}
}

// runSimRecover turns a panic of raft (a broken invariant, such as a
// follower missing entries it acknowledged) into the seed's failure.
func runSimRecover(t *testing.T, seed uint64, summary *string, wipe bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return runSim(t, seed, summary, wipe)
}

// TestSimulationIsDeterministic runs one seed twice: the same seed must
// give the same run, message for message, or a failing seed could not be
// replayed.
func TestSimulationIsDeterministic(t *testing.T) {
	var runs [2]string
	for i := range runs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			cryptotest.SetGlobalRandom(t, 3)
			if err := runSimRecover(t, 3, &runs[i], true); err != nil {
				t.Fatal(err)
			}
		})
	}
	if runs[0] != runs[1] {
		t.Fatalf("seed 3 ran two ways:\n%s\n%s", runs[0], runs[1])
	}
}

type simClient struct {
	id     int
	busy   bool
	opID   int // the pending operation's index in ops; -1 when none
	start  int64
	guess  map[uint64]uint64 // group → node believed to lead it
	serial int
}

// simOp is a client operation in flight or finished.
type simOp struct {
	op    porcupine.Operation
	cmd   string
	index uint64 // where an acknowledged put was applied
	state opState
}

type opState int

const (
	opPending opState = iota
	opOK
	opFailed  // certainly not applied: leave it out of the history
	opUnknown // maybe applied: a put stays in the history, open-ended
)

const (
	simGroups     = 3
	simKeys       = 4
	chaosUnits    = 6000
	clientTimeout = 600
	convergeUnits = 30000
	neverReturned = int64(1) << 60
)

// runSim runs one seed; summary receives a fingerprint of the run. wipe
// adds disk losses to the faults.
func runSim(t *testing.T, seed uint64, summary *string, wipe bool) error {
	rng := rand.New(rand.NewPCG(seed, 0xC1D5))
	var err error
	nodes := 3
	if seed%3 == 0 {
		nodes = 5
	}
	groups := make([]uint64, simGroups)
	for i := range groups {
		groups[i] = uint64(i + 1)
	}
	var c *raftsim.Cluster
	led := newLedger(func() int64 { return c.Now })
	noisy := raftsim.Faults{Drop: 0.05, Duplicate: 0.03, MinDelay: 1, MaxDelay: 20, LongDelay: 0.02}
	c, err = raftsim.New(rng, raftsim.Options{
		Nodes:  nodes,
		Groups: groups,
		// Seeds 1, 2, 5, 6, … keep their groups' commands outside the WAL
		// (multiraft.EntryStore), as partitions keep them in their logs.
		NewStateMachine: func(node, group uint64, disk vfs.FS) multiraft.StateMachine {
			s := &kv{node: node, group: group, ledger: led}
			if seed%4 == 1 || seed%4 == 2 {
				return storedKV{s, newSimEntries(disk, group)}
			}
			return s
		},
		Faults: noisy,
		// Even seeds snapshot often (snapshots sent to followers, restores);
		// odd seeds keep long logs (more unsynced bytes at stake in a crash).
		// Seeds 3, 4, 7, 8, … quiesce idle groups. Seeds 1, 4, 7, … bound
		// the node's logs together tightly (MaxLogBytes), so that its
		// groups are snapshotted early, in turn (and, with SnapshotBytes,
		// MaxUnsnapshotted, 32 KiB).
		Host: multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1, SnapshotEvery: 20 + 180*(seed%2), SnapshotKeep: 5, Quiesce: seed%4 >= 2,
			SnapshotBytes: map[bool]uint64{true: 8 << 10}[seed%3 == 1], MaxLogBytes: map[bool]uint64{true: 1 << 10}[seed%3 == 1]},
		// With wipes, leaders also hand groups back to their preferred
		// nodes, as the broker does: transfers racing a rejoin's
		// configuration changes once left groups joint for good.
		PreferEvery: map[bool]int64{true: 30}[wipe],
	})
	if err != nil {
		return err
	}
	defer c.Close()

	// Storms of three strengths: a fault every 6, 15 or 40 ticks.
	faultEvery := []int64{60, 150, 400}[(seed/4)%3]
	var ops []*simOp
	clients := make([]*simClient, 5)
	for i := range clients {
		clients[i] = &simClient{id: i, opID: -1, guess: map[uint64]uint64{}}
	}
	startOp := func(cl *simClient, in kvInput) {
		target := cl.guess[in.group]
		if target == 0 || rng.IntN(10) == 0 {
			target = uint64(rng.IntN(nodes) + 1)
		}
		cmd := "g " + in.key
		if in.put {
			cmd = "p " + in.key + " " + in.value
		}
		o := &simOp{op: porcupine.Operation{ClientId: cl.id, Input: in, Call: c.Now}, cmd: cmd}
		ops = append(ops, o)
		cl.busy, cl.opID, cl.start = true, len(ops)-1, c.Now
		if in.readIndex {
			// Any node may serve it, follower or leader.
			c.ReadIndex(target, in.group, func(err error) {
				if o.state != opPending {
					return
				}
				cl.busy, cl.opID = false, -1
				o.op.Return = c.Now
				if err != nil {
					o.state = opFailed // a read that did not happen changes nothing
					return
				}
				o.state = opOK
				o.op.Output = kvOutput{value: kvOf(c.Node(target).SMs[in.group]).state.Data[in.key]}
			})
			return
		}
		c.Propose(target, in.group, []byte(cmd), func(r multiraft.Result) {
			if o.state != opPending {
				return // abandoned by the client already
			}
			cl.busy, cl.opID = false, -1
			o.op.Return = c.Now
			var nl *multiraft.NotLeaderError
			switch {
			case r.Err == nil:
				o.state, o.index = opOK, r.Index
				o.op.Output = kvOutput{value: r.Value.(string)}
			case errors.As(r.Err, &nl):
				o.state = opFailed
				cl.guess[in.group] = nl.Leader
			case errors.Is(r.Err, multiraft.ErrDropped):
				o.state = opFailed
			case errors.Is(r.Err, multiraft.ErrUnknownOutcome), errors.Is(r.Err, multiraft.ErrStopped):
				o.state = opUnknown
				cl.guess[in.group] = 0
			default:
				t.Errorf("unexpected proposal error: %v", r.Err)
				o.state = opFailed
			}
		})
	}

	// The storm.
	for c.Now < chaosUnits {
		for _, cl := range clients {
			if cl.busy && c.Now-cl.start > clientTimeout {
				o := ops[cl.opID]
				o.state, cl.busy, cl.opID = opUnknown, false, -1
				cl.guess = map[uint64]uint64{}
			}
			if !cl.busy && rng.IntN(20) == 0 {
				cl.serial++
				in := kvInput{group: uint64(rng.IntN(simGroups) + 1), key: fmt.Sprintf("k%d", rng.IntN(simKeys))}
				switch rng.IntN(3) {
				case 0:
					in.put = true
				case 1:
					in.readIndex = true
					if rng.IntN(2) == 0 {
						cl.guess[in.group] = 0 // half of them on any node, often a follower
					}
				}
				if in.put {
					in.value = fmt.Sprintf("c%d.%d", cl.id, cl.serial)
				}
				startOp(cl, in)
			}
		}
		// None at 0: a fault before the first election took the first
		// chance of a wipe (groups not yet reconciled) and could leave a
		// node down from the start.
		if c.Now > 0 && c.Now%faultEvery == 0 {
			fault(c, rng, nodes, wipe, groups)
		}
		if err := c.Step(); err != nil {
			return err
		}
		if len(led.problems) > 0 {
			return fmt.Errorf("at %d: %v", c.Now, led.problems)
		}
	}

	// Heal: every link back, every node up, a quiet network.
	c.Net.Heal()
	c.Net.SetFaults(raftsim.Faults{MinDelay: 1, MaxDelay: 5})
	for _, id := range c.IDs() {
		c.Node(id).Disk.FailAfter(-1) // no power loss armed for later
		if err := c.Restart(id); err != nil {
			return err
		}
	}
	if err := converge(c, groups); err != nil {
		return err
	}
	for _, cl := range clients { // what is still pending may or may not have happened
		if cl.busy {
			ops[cl.opID].state = opUnknown
		}
	}

	// untilOK runs in on the healed cluster, through the group's leader,
	// until it succeeds; a put's tries get values of their own (values
	// are unique: an unknown outcome is looked up in the ledger by it).
	untilOK := func(clientID int, in kvInput) error {
		cl := &simClient{id: clientID, opID: -1, guess: map[uint64]uint64{in.group: c.Leader(in.group)}}
		for attempt := 0; attempt <= 50; attempt++ {
			try := in
			if in.put {
				try.value = fmt.Sprintf("%s.%d", in.value, attempt)
			}
			startOp(cl, try)
			for cl.busy {
				if err := c.Step(); err != nil {
					return err
				}
			}
			if ops[len(ops)-1].state == opOK {
				return nil
			}
			if err := c.Run(100); err != nil { // an election may be under way
				return err
			}
			cl.guess[in.group] = c.Leader(in.group)
		}
		return fmt.Errorf("%+v on group %d never succeeded", in, in.group)
	}

	// A storm that never found every node up and every group reconciled
	// wiped no disk, and one that kept a majority down acknowledged no
	// put (seeds 236 and 475 of 500): then the healed cluster loses a
	// disk and takes a put per group, so that every seed proves something
	// about rejoining and about acknowledged writes.
	if wipe && c.Wipes == 0 {
		t.Logf("seed %d: the storm wiped no disk; wiping one after it", seed)
		id := uint64(rng.IntN(nodes) + 1)
		c.Wipe(id)
		if err := c.Restart(id); err != nil {
			return err
		}
		if err := converge(c, groups); err != nil {
			return err
		}
	}
	if !slices.ContainsFunc(ops, func(o *simOp) bool { return o.state == opOK && o.op.Input.(kvInput).put }) {
		t.Logf("seed %d: the storm acknowledged no put; writing one per group after it", seed)
		for _, g := range groups {
			if err := untilOK(len(clients)+1, kvInput{group: g, key: "k0", put: true, value: fmt.Sprintf("healed.%d", g)}); err != nil {
				return err
			}
		}
	}

	// Final reads of every key, through the log of each group's leader.
	for _, g := range groups {
		for k := range simKeys {
			if err := untilOK(len(clients), kvInput{group: g, key: fmt.Sprintf("k%d", k)}); err != nil {
				return fmt.Errorf("final read: %w", err)
			}
		}
	}
	if err := converge(c, groups); err != nil { // the final reads reach every replica
		return err
	}
	if len(led.problems) > 0 {
		return fmt.Errorf("ledger: %v", led.problems)
	}

	// Every acknowledged put is where its acknowledgement said.
	var history []porcupine.Operation
	acked, reads := 0, 0
	for _, o := range ops {
		in := o.op.Input.(kvInput)
		if in.readIndex && o.state == opOK {
			reads++
		}
		switch {
		case o.state == opOK:
			if in.put {
				acked++
				if got := led.at[in.group][o.index]; got != o.cmd {
					return fmt.Errorf("acknowledged %q at group %d index %d, ledger has %q", o.cmd, in.group, o.index, got)
				}
			}
			history = append(history, o.op)
		case (o.state == opUnknown || o.state == opPending) && in.put:
			// Values are unique, so the ledger tells whether the put took
			// effect, and by when. One that never did cannot have been seen
			// by any read (reads go through the log): leave it out.
			if at, ok := led.appliedAt(in.group, o.cmd); ok {
				op := o.op
				op.Output, op.Return = kvOutput{}, at
				history = append(history, op)
			}
		}
	}
	res, info := porcupine.CheckOperationsVerbose(kvModel, history, 30*time.Second)
	if res != porcupine.Ok {
		path := fmt.Sprintf("%s/porcupine-seed%d.html", os.TempDir(), seed)
		if err := porcupine.VisualizePath(kvModel, info, path); err == nil {
			t.Logf("visualization: %s", path)
		}
		t.Logf("not linearizable:\n%s", describeIllegal(history))
		return fmt.Errorf("history of %d operations is %s", len(history), res)
	}

	// Every replica identical.
	for _, g := range groups {
		first := kvOf(c.Nodes[0].SMs[g])
		for _, n := range c.Nodes[1:] {
			if s := kvOf(n.SMs[g]); !first.equal(s) {
				return fmt.Errorf("group %d: node 1 (applied %d) and node %d (applied %d) differ", g, first.state.Applied, n.ID, s.state.Applied)
			}
		}
	}
	if seed%4 >= 2 { // quiescing: once idle, every group on every node goes quiet
		if err := c.Run(1000); err != nil {
			return err
		}
		for _, n := range c.Nodes {
			if q := n.Host.Quiet(); q != simGroups {
				return fmt.Errorf("node %d: %d of %d groups quiet after idling", n.ID, q, simGroups)
			}
		}
	}
	t.Logf("%d nodes: %d ops (%d puts acknowledged, %d ReadIndex reads), %d crashes (%d mid-write, %d disks wiped), %d messages (%d dropped, %d duplicated), converged at %d",
		nodes, len(ops), acked, reads, c.Crashes, c.PowerLosses, c.Wipes, c.Net.Sent, c.Net.Dropped, c.Net.Duplicated, c.Now)
	if wipe && c.Wipes == 0 {
		return errors.New("no disk was wiped: the run proved nothing about rejoining")
	}
	if acked == 0 {
		return errors.New("no put was acknowledged: the run proved nothing")
	}
	*summary = fmt.Sprintf("now=%d sent=%d dropped=%d ops=%d acked=%d crashes=%d wipes=%d", c.Now, c.Net.Sent, c.Net.Dropped, len(ops), acked, c.Crashes, c.Wipes)
	for _, g := range groups {
		*summary += fmt.Sprintf(" g%d=%x", g, kvOf(c.Nodes[0].SMs[g]).state.Chain)
	}
	return nil
}

// fault applies one random change to the world; with wipe, a node may
// lose its disk (only while every node is up and every group reconciled:
// a wipe on top of a node down leaves a group of three without a majority
// until that node returns; the first chance is always taken, so that
// every run wipes one).
func fault(c *raftsim.Cluster, rng *rand.Rand, nodes int, wipe bool, groups []uint64) {
	id := uint64(rng.IntN(nodes) + 1)
	if wipe && (c.Wipes == 0 || rng.IntN(6) == 0) && allUp(c) && allReconciled(c, groups) {
		c.Wipe(id)
		if rng.IntN(2) == 0 {
			_ = c.Restart(id)
		}
		return
	}
	switch rng.IntN(12) {
	case 0:
		c.Net.Isolate(id, c.IDs())
	case 1:
		c.Net.Cut(id, uint64(rng.IntN(nodes)+1))
	case 2, 3:
		c.Net.Heal()
	case 4:
		c.Crash(id)
	case 5: // a crash and an immediate restart: what it voted for must hold
		c.Crash(id)
		_ = c.Restart(id)
	case 6:
		c.PowerLossDuringWrites(id)
	case 7: // the whole cluster loses power at once
		for _, n := range c.IDs() {
			c.Crash(n)
		}
		fallthrough
	case 8, 9:
		for _, n := range c.IDs() {
			// A restart that fails (its disk armed to lose power) leaves
			// the node down until the next restart.
			_ = c.Restart(n)
		}
	}
}

// converge runs the world until every group has a leader and every replica
// applied all it committed, or fails: after healing, that is liveness.
func converge(c *raftsim.Cluster, groups []uint64) error {
	deadline := c.Now + convergeUnits
	for !allConverged(c, groups) {
		if c.Now > deadline {
			return fmt.Errorf("no convergence %d units after healing (leaders %v): %s", convergeUnits, leaders(c, groups), describeGroups(c, groups))
		}
		if err := c.Step(); err != nil {
			return err
		}
	}
	return nil
}

// allConverged also asks for every group reconciled (raftsim's
// Reconciled): a wiped node is back as a voter, its old replica gone.
func allConverged(c *raftsim.Cluster, groups []uint64) bool {
	for _, g := range groups {
		if !c.Converged(g) {
			return false
		}
	}
	return allReconciled(c, groups)
}

func allUp(c *raftsim.Cluster) bool {
	for _, n := range c.Nodes {
		if !n.Up() {
			return false
		}
	}
	return true
}

func allReconciled(c *raftsim.Cluster, groups []uint64) bool {
	for _, g := range groups {
		if !c.Reconciled(g) {
			return false
		}
	}
	return true
}

func leaders(c *raftsim.Cluster, groups []uint64) []uint64 {
	var out []uint64
	for _, g := range groups {
		out = append(out, c.Leader(g))
	}
	return out
}

// describeGroups tells, per group, each node's view and the leader's
// configuration: what a convergence failure needs to be understood.
func describeGroups(c *raftsim.Cluster, groups []uint64) string {
	var b strings.Builder
	for _, g := range groups {
		fmt.Fprintf(&b, "\ngroup %d:", g)
		for _, n := range c.Nodes {
			if !n.Up() {
				fmt.Fprintf(&b, " node %d down;", n.ID)
				continue
			}
			st, _ := n.Host.Status(g)
			cs, _ := n.Host.Membership(g)
			fmt.Fprintf(&b, " node %d gen %d: leader %d term %d commit %d applied %d voters %v learners %v outgoing %v;",
				n.ID, n.Gen, st.Leader, st.Term, st.Commit, st.Applied, cs.GetVoters(), cs.GetLearners(), cs.GetVotersOutgoing())
		}
	}
	return b.String()
}
