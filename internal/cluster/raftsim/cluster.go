// Package raftsim runs a whole cluster of multiraft hosts in one goroutine,
// deterministically: a simulated network (drop, delay, duplicate, reorder,
// cut links), a simulated clock (the test advances it; hosts tick every
// TickEvery units), and disks (vfs.Mem) that lose unsynced bytes when a node
// crashes, including in the middle of its writes. Given a seed — and
// testing/cryptotest.SetGlobalRandom for raft's own election jitter — a run
// is the same every time, so a failing seed reproduces.
//
// It owns the simulated world; what to check is the tests' business.
package raftsim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// Options describe a simulated cluster.
type Options struct {
	Nodes  int      // node IDs are 1..Nodes, every node a voter of every group
	Groups []uint64 // group IDs hosted by every node
	// NewStateMachine makes a group's state machine on a node, at start and
	// after every restart (it is then restored from the group's snapshot);
	// disk is the node's (a state machine that keeps its entries itself,
	// multiraft.EntryStore, keeps them there).
	NewStateMachine func(node, group uint64, disk vfs.FS) multiraft.StateMachine
	Faults          Faults
	TickEvery       int64 // time units per tick (default 10)
	// Host tunes the hosts; NodeID, FS and Dir are set per node.
	Host multiraft.Config
	// PreferEvery, if not 0, is how many ticks apart a group's leader
	// hands leadership to the group's preferred node (Preferred) when
	// that node is up, as the broker's partitions and consumer group
	// shards do: transfers pause a leader's proposals, configuration
	// changes included, so they belong in the storm.
	PreferEvery int64
}

// Node is one simulated node: its disk survives crashes, its host does not.
type Node struct {
	ID   uint64
	Disk *vfs.Mem
	// Gen is the generation of the node's replicas (multiraft.ReplicaID):
	// it goes up each time the node loses its disk (Wipe).
	Gen  uint64
	Host *multiraft.Host // nil while the node is down
	// SMs are the state machines of the running incarnation, by group.
	SMs map[uint64]multiraft.StateMachine
	// boot counts the node's starts; its keepalives carry it, as the
	// transport's hello carries a process's boot.
	boot uint64
}

// Up reports whether the node is running.
func (n *Node) Up() bool { return n.Host != nil }

// Cluster is the simulated world. Not safe for concurrent use.
type Cluster struct {
	Now   int64
	Net   *Network
	Nodes []*Node // Nodes[i].ID == i+1
	opts  Options
	rng   *rand.Rand
	// heard is when each node last got a keepalive from each other node:
	// the simulation's node-level failure detector, which Quiesce needs.
	heard map[[2]uint64]int64 // {to, from} → time
	// boots is the latest boot of each node's keepalives that each other
	// node got: a later one is a restart (multiraft.Host.PeerRestarted).
	boots map[[2]uint64]uint64 // {to, from} → boot

	Crashes, PowerLosses, Wipes int
}

// New builds and starts a cluster; rng drives every random choice of the
// world.
func New(rng *rand.Rand, opts Options) (*Cluster, error) {
	if opts.TickEvery == 0 {
		opts.TickEvery = 10
	}
	c := &Cluster{Net: newNetwork(rng, opts.Faults), opts: opts, rng: rng, heard: map[[2]uint64]int64{},
		boots: map[[2]uint64]uint64{}}
	for i := range opts.Nodes {
		n := &Node{ID: uint64(i + 1), Disk: vfs.NewMem()}
		c.Nodes = append(c.Nodes, n)
		if err := c.start(n, opts.Groups); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// IDs returns every node's ID (1..Options.Nodes), started or not yet.
func (c *Cluster) IDs() []uint64 {
	ids := make([]uint64, c.opts.Nodes)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	return ids
}

// Node returns node id.
func (c *Cluster) Node(id uint64) *Node { return c.Nodes[id-1] }

func (c *Cluster) start(n *Node, groups []uint64) error {
	cfg := c.opts.Host
	cfg.NodeID, cfg.FS, cfg.Dir = n.ID, n.Disk, "/data"
	h, err := multiraft.New(cfg)
	if err != nil {
		return err
	}
	n.SMs = map[uint64]multiraft.StateMachine{}
	// Generation 0 bootstraps the groups' first configuration; a later
	// generation joins them and waits for their leaders to add it.
	var voters []uint64
	if n.Gen == 0 {
		voters = c.IDs()
	}
	for _, g := range groups {
		sm := c.opts.NewStateMachine(n.ID, g, n.Disk)
		if err := h.AddReplica(g, multiraft.ReplicaID(n.ID, n.Gen), voters, sm); err != nil {
			h.Close()
			return fmt.Errorf("raftsim: node %d group %d: %w", n.ID, g, err)
		}
		n.SMs[g] = sm
	}
	n.Host = h
	n.boot++
	for _, p := range c.IDs() {
		c.heard[[2]uint64{n.ID, p}] = c.Now // a fresh node trusts everyone at first
		delete(c.boots, [2]uint64{n.ID, p})
	}
	return nil
}

// Crash stops node id at once: pending proposals fail with ErrStopped and
// its disk keeps only what was synced (and a random part of the rest).
func (c *Cluster) Crash(id uint64) {
	n := c.Node(id)
	if !n.Up() {
		return
	}
	n.Host.Close()
	n.Host, n.SMs = nil, nil
	n.Disk.Crash(c.rng)
	c.Crashes++
}

// PowerLossDuringWrites arms node id's disk to fail after a random number of
// its next writes; the node crashes when its host hits the failure.
func (c *Cluster) PowerLossDuringWrites(id uint64) {
	if n := c.Node(id); n.Up() {
		n.Disk.FailAfter(c.rng.IntN(8))
	}
}

// Wipe crashes node id and replaces its disk with an empty one, as an
// operator replacing a dead machine's disk does; its next Restart starts a
// new generation of its replicas, which the groups' leaders add back
// (Step calls Reconfigure) — in the real cluster the metadata group hands
// out generations.
func (c *Cluster) Wipe(id uint64) {
	c.Crash(id)
	n := c.Node(id)
	n.Disk = vfs.NewMem()
	n.Gen++
	c.Wipes++
}

// Want is every node's current replica ID: the voters each group should
// have.
func (c *Cluster) Want() []uint64 {
	want := make([]uint64, len(c.Nodes))
	for i, n := range c.Nodes {
		want[i] = multiraft.ReplicaID(n.ID, n.Gen)
	}
	return want
}

// Reconciled reports whether group's leader has exactly Want as voters,
// no learners and no joint configuration: every wiped node is back as a
// voter and no forgotten replica remains.
func (c *Cluster) Reconciled(group uint64) bool {
	lead := c.Leader(group)
	if lead == 0 {
		return false
	}
	cs, err := c.Node(lead).Host.Membership(group)
	if err != nil || len(cs.GetLearners()) > 0 || len(cs.GetVotersOutgoing()) > 0 {
		return false
	}
	want := c.Want()
	if len(cs.GetVoters()) != len(want) {
		return false
	}
	for _, w := range want {
		if !slices.Contains(cs.GetVoters(), w) {
			return false
		}
	}
	return true
}

// Restart starts a crashed node again from its disk.
func (c *Cluster) Restart(id uint64) error {
	n := c.Node(id)
	if n.Up() {
		return nil
	}
	return c.start(n, c.opts.Groups)
}

// RestartBare starts a crashed node that hosts no group: it answers
// keepalives and nothing else, as a real node with no Raft state does
// while it asks its peers for a generation (which needs a metadata
// leader). Crash it again to Restart it whole.
func (c *Cluster) RestartBare(id uint64) error {
	n := c.Node(id)
	if n.Up() {
		return nil
	}
	return c.start(n, nil)
}

// Step advances the world by one time unit: due messages are delivered,
// hosts tick on tick boundaries, and every running host processes its
// groups' Ready and sends what it produced.
func (c *Cluster) Step() error {
	c.Now++
	for _, m := range c.Net.due(c.Now) {
		if n := c.Node(m.to); n.Up() && m.ping {
			link := [2]uint64{m.to, m.from}
			c.heard[link] = c.Now
			// A keepalive of an older boot may arrive late (Crash
			// drops nothing in flight); a process knows only boots
			// it saw since it started.
			if old := c.boots[link]; m.boot > old {
				c.boots[link] = m.boot
				if old != 0 {
					n.Host.PeerRestarted(m.from)
				}
			}
		} else if n.Up() {
			n.Host.Step(m.envelope())
		}
	}
	tick := c.Now%c.opts.TickEvery == 0
	for _, n := range c.Nodes {
		if !n.Up() {
			continue
		}
		if tick {
			n.Host.Tick()
			c.detect(n)
			for _, g := range c.opts.Groups {
				if n.SMs[g] == nil {
					continue // a bare node (RestartBare)
				}
				if _, err := n.Host.Reconfigure(g, c.Want()); err != nil {
					return fmt.Errorf("raftsim: node %d: %w", n.ID, err)
				}
			}
			c.prefer(n)
		}
		if err := c.process(n); err != nil {
			return err
		}
	}
	return nil
}

// Preferred is the node a group's leadership goes back to with
// Options.PreferEvery: group IDs spread over the nodes.
func (c *Cluster) Preferred(group uint64) uint64 { return (group-1)%uint64(c.opts.Nodes) + 1 }

// prefer has n hand the groups it leads to their preferred nodes, every
// PreferEvery ticks.
func (c *Cluster) prefer(n *Node) {
	every := c.opts.PreferEvery * c.opts.TickEvery
	if every == 0 || c.Now%every != 0 {
		return
	}
	for _, g := range c.opts.Groups {
		st, err := n.Host.Status(g)
		if p := c.Preferred(g); err == nil && st.IsLeader && p != n.ID && c.Node(p).Up() {
			n.Host.TransferLeader(g, p)
		}
	}
}

// detect sends n's keepalives and tells its host which peers it has not
// heard from for an election timeout.
func (c *Cluster) detect(n *Node) {
	ticks := int64(c.opts.Host.ElectionTicks)
	if ticks == 0 {
		ticks = 20
	}
	for _, p := range c.IDs() {
		if p == n.ID {
			continue
		}
		if c.Node(p).Up() {
			c.Net.ping(c.Now, p, n.ID, c.Node(p).boot)
		}
		if c.Now-c.heard[[2]uint64{n.ID, p}] > ticks*c.opts.TickEvery {
			n.Host.PeerDown(p)
		}
	}
}

// Process runs one pass of node id now, so a test can settle proposals it
// just made without waiting for the next Step.
func (c *Cluster) process(n *Node) error {
	// A leader's appends leave before its own writes are durable, as on a
	// real node, so a power loss in the syncs that follow tests that an
	// entry commits only on durable copies.
	out, err := n.Host.Process(func(envs []multiraft.Envelope) { c.send(n, envs) })
	if errors.Is(err, vfs.ErrPowerLoss) {
		c.PowerLosses++
		c.Crash(n.ID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("raftsim: node %d: %w", n.ID, err)
	}
	c.send(n, out)
	return nil
}

// send puts what n's host sent on the network.
func (c *Cluster) send(n *Node, out []multiraft.Envelope) {
	for _, env := range out {
		ok := c.Net.send(c.Now, n.ID, env)
		if env.Msg.GetType() == pb.MsgSnap {
			n.Host.ReportSnapshot(env.Group, env.Msg.GetTo(), ok)
		}
		if !ok && c.rng.IntN(4) == 0 {
			// A real transport notices a broken connection sometimes.
			n.Host.ReportUnreachable(env.Group, env.Msg.GetTo())
		}
	}
}

// Run steps the world for units time units.
func (c *Cluster) Run(units int64) error {
	for range units {
		if err := c.Step(); err != nil {
			return err
		}
	}
	return nil
}

// Propose submits cmd to group on node id; done runs during a later Step
// (or at once when the proposal cannot be made, or the node is down).
func (c *Cluster) Propose(id, group uint64, cmd []byte, done func(multiraft.Result)) {
	n := c.Node(id)
	if !n.Up() {
		done(multiraft.Result{Err: multiraft.ErrStopped})
		return
	}
	n.Host.Propose(group, cmd, done)
}

// ReadIndex asks node id for a linearizable read of group; done runs
// during a later Step, on that node's loop, when its state machine may be
// read (or with an error).
func (c *Cluster) ReadIndex(id, group uint64, done func(error)) {
	n := c.Node(id)
	if !n.Up() {
		done(multiraft.ErrStopped)
		return
	}
	n.Host.ReadIndex(group, done)
}

// Leader returns the node that leads group in the highest term any running
// node knows, or 0.
func (c *Cluster) Leader(group uint64) uint64 {
	var lead, term uint64
	for _, n := range c.Nodes {
		if !n.Up() {
			continue
		}
		st, err := n.Host.Status(group)
		if err == nil && st.IsLeader && st.Term >= term {
			lead, term = n.ID, st.Term
		}
	}
	return lead
}

// Converged reports whether every node is up, group has a leader, and every
// node has applied everything the leader committed.
func (c *Cluster) Converged(group uint64) bool {
	lead := c.Leader(group)
	if lead == 0 {
		return false
	}
	lst, _ := c.Node(lead).Host.Status(group)
	for _, n := range c.Nodes {
		if !n.Up() {
			return false
		}
		st, _ := n.Host.Status(group)
		if st.Applied != lst.Commit || st.Leader != lead {
			return false
		}
	}
	return lst.Applied == lst.Commit
}

// Close stops every node.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		if n.Up() {
			n.Host.Close()
			n.Host = nil
		}
	}
}
