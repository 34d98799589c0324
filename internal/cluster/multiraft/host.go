// Package multiraft hosts many Raft groups on one node: each group is an
// etcd raft RawNode over a raftstore.Store, applying committed commands to a
// StateMachine. The Host owns the groups' Raft state and drives it in passes
// (Tick, Step, Propose, then Process); it owns no goroutine, clock or
// network, so the same code runs under Node (a loop with a ticker and a
// transport) and under a deterministic simulation (raftsim).
//
// Design decisions (docs/cluster.md has the whole picture):
//   - One fsync per store per pass: Process saves every group's Ready, syncs
//     each store that wrote once, and only then sends messages and applies —
//     the order etcd raft's doc asks for (persist before send, apply in
//     order, Advance after).
//   - A static group starts from a snapshot at index 1 holding its voters,
//     identical on every replica, instead of configuration-change entries.
//   - PreVote and CheckQuorum are always on; proposals are never forwarded
//     (a follower answers NotLeaderError with the leader's ID, so the caller
//     goes to the leader, as Kafka clients do).
//   - A proposal's entry carries (proposer, incarnation nonce, sequence); the
//     proposer binds it to the (index, term) where its log received it and
//     answers when that index is applied: with the state machine's result if
//     the entry there is its own, ErrDropped if another entry won the index.
//   - Linearizable reads use ReadIndex, on leaders and followers (read.go).
//   - Idle groups may quiesce (Config.Quiesce, quiesce.go), woken by
//     messages, proposals and a node-level failure detector (PeerDown).
//
// The state machine is rebuilt on start from the group's snapshot and the
// committed entries after it; a state machine that persists itself would
// report its applied index instead (not needed yet: metadata is small).
package multiraft

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/abd-ulbasit/goqueue/internal/cluster/raftstore"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// StateMachine is what a group replicates. The host calls it from its own
// loop only, never concurrently.
type StateMachine interface {
	// Apply applies the command committed at index. Commands arrive in index
	// order, each once per Restore; the result goes back to the proposer.
	Apply(index uint64, cmd []byte) any
	// Snapshot returns the state as of the last applied index, or
	// ErrSnapshotLater when that state cannot be captured yet.
	Snapshot() ([]byte, error)
	// Restore replaces the state with a snapshot's data (nil: the initial,
	// empty state).
	Restore(data []byte) error
}

// ErrSnapshotLater is a state machine's answer to Snapshot when its state
// cannot be captured yet (a replica still fetching the bytes below the
// snapshot it restored): the host takes no snapshot, keeps its Raft log,
// and asks again after the next applied entry.
var ErrSnapshotLater = errors.New("multiraft: snapshot not possible yet")

// Envelope is a Raft message tagged with its group, as it crosses the
// network.
type Envelope struct {
	Group uint64
	Msg   *pb.Message
	// Quiesce marks a leader's last heartbeat before its group goes quiet
	// (see quiesce.go): Msg is a MsgHeartbeat carrying the commit index.
	Quiesce bool
	// Wake marks a note from a node that just started the group: the
	// receiver wakes the group (quiesce.go) and steps nothing.
	Wake bool
}

// DefaultElectionTicks is Config.ElectionTicks's default, the election
// timeout in ticks.
const DefaultElectionTicks = 20

// Config configures a Host. Zero fields take the defaults noted.
type Config struct {
	// NodeID is this node's ID: its address on the network and its Raft
	// ID in the groups added by AddGroup. A group added by AddReplica uses
	// the replica ID given there (ReplicaID of the node and a generation).
	NodeID uint64
	FS     vfs.FS // default vfs.OS{}
	Dir    string // each group's store lives in Dir/g<id>

	// ElectionTicks (default DefaultElectionTicks; Host.ElectionTicks
	// says it) and HeartbeatTicks are in ticks of the caller's clock.
	// Node ticks every 100 ms, so the defaults (20 and 2) give an election
	// timeout of 2–4 s and a heartbeat every 200 ms: sane on a loaded 2-core
	// machine, where a 1 s timeout invites needless elections.
	ElectionTicks  int
	HeartbeatTicks int

	// SnapshotEvery is how many applied entries trigger a snapshot and log
	// compaction (default 10000); SnapshotKeep entries stay in the log
	// behind it for followers a little behind (default 1000).
	// SnapshotBytes bounds the same by size (default 16 MiB): a snapshot is
	// also taken once the entries applied since the last one hold that
	// many bytes, and the entries kept behind it hold about a quarter of
	// that at most. The log between snapshots is held in memory (and in
	// the WAL), so a partition's group of 1 MiB produce batches held up to
	// 11,000 of them, gigabytes, before any count was reached.
	SnapshotEvery uint64
	SnapshotKeep  uint64
	SnapshotBytes uint64
	// MaxUnsnapshotted bounds the log a group's replica keeps while its
	// state machine puts its snapshot off (ErrSnapshotLater: a partition
	// replica fetching the bytes below a snapshot, which may take minutes):
	// once the entries applied since its last snapshot hold that many
	// bytes, the replica takes no more appends, and its leader no more
	// proposals, until it can snapshot or receives a snapshot (default 4 ×
	// SnapshotBytes). Without it a replica catching up held every entry
	// committed meanwhile, in memory, however many gigabytes.
	MaxUnsnapshotted uint64
	// MaxLogBytes bounds the applied entries the node's groups hold
	// together, since their snapshots and kept behind them (default 4 ×
	// SnapshotBytes, 64 MiB): SnapshotBytes bounds one group's, so a node
	// of many busy partitions held up to 20 MiB of each in memory
	// (551-616 MiB resident with 24, 1.3-1.5 GiB with 48, in
	// TestBinaryClusterLogMemory; 170-179 MiB bounded). Past it the tails
	// kept behind snapshots are dropped, then the groups holding most are
	// snapshotted early (see trimLogs). Entries not yet applied (a
	// leader's uncommitted ones, a follower's window of appends) are
	// bounded per group, as before, by MaxInflightBytes.
	MaxLogBytes uint64

	MaxSizePerMsg   uint64 // default 1 MiB
	MaxInflightMsgs int    // default 256
	// MaxInflightBytes bounds the appends a leader has sent a follower
	// and not heard back of (default 8 × MaxSizePerMsg; raft lets one
	// message pass it when nothing else is out, so an entry larger than
	// it still goes). It is about what a follower may take in beyond
	// MaxUnsnapshotted before it drops appends: bounded by count alone
	// (256 messages of 1 MiB), a node copying a partition under load held
	// up to 600 MiB. A follower acknowledges what it has written, so the
	// window also caps a partition's replication at 8 MiB per round trip:
	// 80 MiB/s at 100 ms, far beyond a disk's fsyncs between nodes of one
	// site. Each pass applies up to this many committed bytes, so what a
	// follower writes does not outrun what it applies (and counts toward
	// MaxUnsnapshotted).
	MaxInflightBytes uint64

	// ConcurrentSyncs is how many groups' stores one pass syncs at once
	// (0 or 1: one after another). A real disk takes concurrent fsyncs of
	// different files about as fast as one; the simulation keeps them
	// sequential so a seed replays the same power losses.
	ConcurrentSyncs int
	// EntriesInWAL keeps every new entry whole in its group's WAL, even a
	// state machine's that can keep its commands itself (EntryStore):
	// a partition's data is then written twice, to the WAL and at apply
	// to its log, as before the single log. For measuring what writing
	// once saves, and for going back if it must (entries stored before
	// are still read back).
	EntriesInWAL bool

	// FlushEvery is how often Node flushes the groups whose Durability is
	// SyncOnFlush (default 100 ms, the broker's default --fsync-interval).
	FlushEvery time.Duration

	Logger raft.Logger // default: discards all but panics

	// Quiesce lets idle groups stop ticking and heartbeating (quiesce.go).
	// It needs PeerDown calls from a node-level failure detector, or a
	// quiet group whose leader dies never elects another.
	Quiesce bool
}

func (c *Config) setDefaults() {
	if c.FS == nil {
		c.FS = vfs.OS{}
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = DefaultElectionTicks
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = 2
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = 10000
	}
	if c.FlushEvery == 0 {
		c.FlushEvery = 100 * time.Millisecond
	}
	if c.SnapshotKeep == 0 {
		c.SnapshotKeep = 1000
	}
	if c.SnapshotBytes == 0 {
		c.SnapshotBytes = 16 << 20
	}
	if c.MaxUnsnapshotted == 0 {
		c.MaxUnsnapshotted = 4 * c.SnapshotBytes
	}
	if c.MaxLogBytes == 0 {
		c.MaxLogBytes = 4 * c.SnapshotBytes
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = 1 << 20
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = 256
	}
	if c.MaxInflightBytes == 0 && c.MaxSizePerMsg <= math.MaxUint64/8 {
		c.MaxInflightBytes = 8 * c.MaxSizePerMsg // else 0: raft's no limit
	}
	if c.Logger == nil {
		c.Logger = quietLogger{}
	}
}

// ErrStopped is the answer to a proposal still pending when the host closes,
// and to any call after Close.
var ErrStopped = errors.New("multiraft: stopped")

// ErrUnknownGroup is returned for a group this node does not host.
var ErrUnknownGroup = errors.New("multiraft: unknown group")

// Host is the set of Raft groups of one node. It is not safe for concurrent
// use: one goroutine (Node's loop, or a simulation) owns it.
type Host struct {
	cfg    Config
	groups map[uint64]*group
	order  []uint64 // group IDs sorted, so every pass is deterministic
	closed bool
	seq    uint64   // last proposal (or read request) sequence number issued
	asking []*group // groups with reads not asked of raft yet (askReads)
	nonce  uint64   // this incarnation's, random: see headerLen
	// unknown counts messages for groups this node does not host, stale
	// those for an earlier replica of this node (see Step).
	unknown, stale uint64

	outbox []Envelope        // quiesce notes made by Tick, sent by the next Process
	ticks  uint64            // Tick calls so far
	downAt map[uint64]uint64 // node → ticks at its last PeerDown
	// restartedAt is when each node's latest restart was reported
	// (PeerRestarted), in ticks; dropped an election timeout later.
	restartedAt map[uint64]uint64
}

// group is one Raft group's state on this node; owned by the Host.
type group struct {
	id    uint64
	self  uint64 // this replica's Raft ID in the group: see ReplicaID
	rn    *raft.RawNode
	store *raftstore.Store
	sm    StateMachine
	// storesEntries: sm keeps the entries' commands (EntryStore), so a
	// follower may lose some it acknowledged whatever the durability
	// (see handOffForgotten).
	storesEntries bool
	conf          *pb.ConfState // as of the last applied entry
	applied       uint64
	snapAt        uint64 // index of the last snapshot taken or received
	// bytesSince is the size of the entries applied since snapAt (since
	// the host opened the group, after a restart); kept, about that of
	// the entries the last snapshot left behind it. Both stay in memory
	// (raft.MemoryStorage) until the next snapshot.
	bytesSince uint64
	kept       uint64
	// snapWanted asks for a snapshot at once (a configuration changed)
	// that the state machine put off (ErrSnapshotLater).
	snapWanted bool
	// full: the state machine put a snapshot off with MaxUnsnapshotted
	// bytes applied since the last; the group drops appends and refuses
	// proposals, and Process asks for the snapshot again each pass, until
	// one is taken or received.
	full bool
	// confIndex is the index of the last configuration change this
	// replica's log received: one not applied yet is pending.
	confIndex uint64
	waits     waits
	rd        *raft.Ready   // the Ready being processed in this pass
	late      []*pb.Message // rd's messages that wait until it is durable
	// durability is when the group's entries are synced (durability.go).
	durability Durability
	// quiet groups do not tick (only TickQuiesced) and send nothing; see
	// quiesce.go. idleTicks counts a leader's ticks with nothing to do.
	quiet     bool
	idleTicks int
	// toldLead is the leader a quiet follower was woken under by
	// wakeAndTell, which restarted its election clock as if that leader
	// had spoken; 0 once the leader did speak, or PeerDown undid it.
	toldLead uint64
	reads    []*read // pending ReadIndex requests, in request order
	// readAsking: the group is in Host.asking (reads not yet asked).
	readAsking bool
	// want is the voters the last Reconfigure call asked for: a replica
	// of a node that is not in it is forgotten (see TransferLeader).
	want []uint64
}

// New returns a Host with no groups.
func New(cfg Config) (*Host, error) {
	cfg.setDefaults()
	if cfg.NodeID == 0 || cfg.NodeID > maxNode {
		return nil, fmt.Errorf("multiraft: node ID %d: must be 1 to %d", cfg.NodeID, uint64(maxNode))
	}
	if cfg.MaxInflightBytes != 0 && cfg.MaxInflightBytes < cfg.MaxSizePerMsg {
		// raft refuses it, but only when a group is added.
		return nil, fmt.Errorf("multiraft: MaxInflightBytes %d is below MaxSizePerMsg %d", cfg.MaxInflightBytes, cfg.MaxSizePerMsg)
	}
	var b [8]byte
	// crypto/rand: unique across restarts without a file, and deterministic
	// under testing/cryptotest in simulations.
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	return &Host{cfg: cfg, groups: map[uint64]*group{}, nonce: binary.BigEndian.Uint64(b[:]),
		downAt: map[uint64]uint64{}, restartedAt: map[uint64]uint64{}}, nil
}

// self is the proposal ID of this incarnation with no sequence number.
func (h *Host) self() proposalID { return proposalID{node: h.cfg.NodeID, nonce: h.nonce} }

// NodeID returns this node's ID.
func (h *Host) NodeID() uint64 { return h.cfg.NodeID }

// AddGroup opens (or creates) group id with the given voters, this node's
// Raft ID being its node ID: AddReplica(id, NodeID, voters, sm).
func (h *Host) AddGroup(id uint64, voters []uint64, sm StateMachine) error {
	return h.AddReplica(id, h.cfg.NodeID, voters, sm)
}

// AddReplica opens (or creates) this node's replica self of group id,
// restores sm from the group's snapshot, and starts its RawNode. Committed
// entries after the snapshot are applied again by the following passes.
//
// An empty store is bootstrapped with voters, the group's initial
// configuration (the same on every replica). With voters nil it is not: the
// replica joins a running group and waits, outside any configuration, for
// its leader to add it (Reconfigure) and send a snapshot — the only sound
// start for a replica whose earlier state is gone (membership.go).
func (h *Host) AddReplica(id, self uint64, voters []uint64, sm StateMachine) error {
	if h.closed {
		return ErrStopped
	}
	if _, ok := h.groups[id]; ok {
		return fmt.Errorf("multiraft: group %d added twice", id)
	}
	if NodeOf(self) != h.cfg.NodeID {
		return fmt.Errorf("multiraft: group %d: replica %s is not of node %d", id, FormatReplica(self), h.cfg.NodeID)
	}
	var data *entryData
	if es, ok := sm.(EntryStore); ok {
		// With EntriesInWAL too: entries stored before still read back.
		data = &entryData{es: es, inWAL: h.cfg.EntriesInWAL}
	}
	store, err := openStore(h.cfg.FS, h.groupDir(id), data)
	if err != nil {
		return err
	}
	if store.IsEmpty() && voters != nil {
		if err := store.Bootstrap(&pb.ConfState{Voters: slices.Clone(voters)}); err != nil {
			store.Close()
			return err
		}
	}
	snap, err := store.Snapshot()
	if err != nil {
		store.Close()
		return err
	}
	if err := sm.Restore(snap.GetData()); err != nil {
		store.Close()
		return fmt.Errorf("multiraft: group %d: restore: %w", id, err)
	}
	applied := snap.GetMetadata().GetIndex()
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        self,
		ElectionTick:              h.cfg.ElectionTicks,
		HeartbeatTick:             h.cfg.HeartbeatTicks,
		Storage:                   store,
		Applied:                   applied,
		MaxSizePerMsg:             h.cfg.MaxSizePerMsg,
		MaxInflightMsgs:           h.cfg.MaxInflightMsgs,
		MaxInflightBytes:          h.cfg.MaxInflightBytes,
		MaxCommittedSizePerReady:  max(h.cfg.MaxInflightBytes, h.cfg.MaxSizePerMsg),
		MaxUncommittedEntriesSize: 64 << 20,
		CheckQuorum:               true,
		PreVote:                   true,
		DisableProposalForwarding: true,
		Logger:                    h.cfg.Logger,
	})
	if err != nil {
		store.Close()
		return fmt.Errorf("multiraft: group %d: %w", id, err)
	}
	conf := snap.GetMetadata().GetConfState()
	if conf == nil {
		conf = &pb.ConfState{}
	}
	g := &group{
		id: id, self: self, rn: rn, store: store, sm: sm,
		conf: conf, applied: applied, snapAt: applied, durability: durabilityOf(sm),
		storesEntries: data != nil,
	}
	store.SetLazy(g.durability != SyncEachPass)
	// Snapshots every SnapshotBytes rewrite the WAL every other one.
	store.SetRotateBytes(int64(min(h.cfg.SnapshotBytes, math.MaxInt64/4) * 2))
	h.groups[id] = g
	h.order = append(h.order, id)
	slices.Sort(h.order)
	if h.cfg.Quiesce {
		// A quiet leader sends nothing, so this fresh replica would time
		// out and call an election; it asks the others to wake instead.
		for _, v := range conf.GetVoters() {
			if v != self {
				h.outbox = append(h.outbox, Envelope{Group: id, Wake: true, Msg: &pb.Message{
					Type: pb.MsgHeartbeat.Enum(), From: new(self), To: new(v),
				}})
			}
		}
	}
	return nil
}

// ElectionTicks is the election timeout in ticks (Config.ElectionTicks).
func (h *Host) ElectionTicks() int { return h.cfg.ElectionTicks }

// Tick advances every group's logical clock by one tick.
func (h *Host) Tick() {
	h.ticks++
	for _, id := range h.order {
		g := h.groups[id]
		if g.quiet {
			g.rn.TickQuiesced()
			continue
		}
		// Judged before the tick, whose heartbeats would make any leader
		// look busy.
		if h.cfg.Quiesce && h.maybeQuiesce(g) {
			continue
		}
		g.rn.Tick()
	}
	h.wakeRestarted()
}

// Step hands a message from the network to its group. Messages for groups
// this node does not host are dropped (a partition's group is created by the
// metadata layer before its peers talk to it; until then they retry).
func (h *Host) Step(env Envelope) {
	g, ok := h.groups[env.Group]
	if !ok || h.closed {
		h.unknown++
		return
	}
	if env.Msg.GetTo() != g.self {
		// For an earlier replica of this node, whose state is gone: it
		// must never answer (a vote or an acknowledgement from a replica
		// that lost its log breaks Raft), and this one is not it.
		h.stale++
		return
	}
	if env.Quiesce {
		g.followerQuiesce(env.Msg)
		return
	}
	if g.full && env.Msg.GetType() == pb.MsgApp {
		// Lost as the network may lose it: the leader sends again, or, once
		// it has compacted past this replica, a snapshot.
		return
	}
	if env.Wake {
		h.wakeAndTell(g)
		return
	}
	switch {
	case env.Msg.GetType() == pb.MsgHeartbeatResp:
		// Not news: a quiet leader takes the answers to its quiesce notes
		// without waking, and an idle one goes on counting idle ticks.
	case env.Msg.GetFrom() == g.rn.BasicStatus().Lead:
		g.wake() // the leader is awake already
		g.toldLead = 0
	default:
		h.wakeAndTell(g)
	}
	if env.Msg.GetType() == pb.MsgHeartbeat {
		clampCommit(g, env.Msg)
	}
	if env.Msg.GetType() == pb.MsgAppResp && env.Msg.GetReject() && (g.durability != SyncEachPass || g.storesEntries) {
		handOffForgotten(g, env.Msg)
	}
	// Errors are for messages that are not for this node or are local-only
	// types: a confused or malicious peer, never a reason to stop.
	_ = g.rn.Step(env.Msg)
}

// ReportUnreachable tells group that node could not be reached, so its
// leader stops streaming to it and probes instead.
func (h *Host) ReportUnreachable(group, node uint64) {
	if g, ok := h.groups[group]; ok {
		g.rn.ReportUnreachable(node)
	}
}

// ReportSnapshot tells group whether a snapshot sent to node arrived.
func (h *Host) ReportSnapshot(group, node uint64, ok bool) {
	g, found := h.groups[group]
	if !found {
		return
	}
	status := raft.SnapshotFinish
	if !ok {
		status = raft.SnapshotFailure
	}
	g.rn.ReportSnapshot(node, status)
}

// Status is a group's Raft state as this node sees it.
type Status struct {
	Leader   uint64 // the leader's node ID (not its replica ID); 0 when unknown
	Term     uint64
	Commit   uint64
	Applied  uint64
	IsLeader bool
	Quiet    bool // quiesced: not ticking, no heartbeats
	// Unsnapshotted is the size of the entries applied since the last
	// snapshot: what the log holds in memory beyond the entries kept
	// behind a snapshot. Full says it reached Config.MaxUnsnapshotted with
	// the state machine putting its snapshot off.
	Unsnapshotted uint64
	Full          bool
	// Kept is about the size of the entries kept behind the last snapshot
	// taken here (0 after one received).
	Kept uint64
}

// Status returns group's state.
func (h *Host) Status(group uint64) (Status, error) {
	g, ok := h.groups[group]
	if !ok {
		return Status{}, fmt.Errorf("%w: %d", ErrUnknownGroup, group)
	}
	st := g.rn.BasicStatus()
	return Status{
		Leader: NodeOf(st.Lead), Term: st.GetTerm(), Commit: st.GetCommit(), Applied: g.applied,
		IsLeader: st.RaftState == raft.StateLeader, Quiet: g.quiet,
		Unsnapshotted: g.bytesSince, Full: g.full, Kept: g.kept,
	}, nil
}

// HasReady reports whether a group has something for Process to do.
func (h *Host) HasReady() bool {
	if h.closed {
		return false
	}
	for _, id := range h.order {
		if h.groups[id].rn.HasReady() {
			return true
		}
	}
	return false
}

// Groups returns the IDs of the hosted groups, sorted.
func (h *Host) Groups() []uint64 { return slices.Clone(h.order) }

// Close fails every pending proposal with ErrStopped and closes the stores
// without syncing (Process already synced what it acknowledged).
func (h *Host) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	var errs []error
	for _, id := range h.order {
		g := h.groups[id]
		g.waits.failAll(ErrStopped)
		for _, r := range g.reads {
			r.done(ErrStopped)
		}
		g.reads = nil
		// Whatever a lazy group wrote: a clean stop loses nothing.
		errs = append(errs, g.store.Flush(), g.store.Close())
	}
	return errors.Join(errs...)
}

// clampCommit keeps a heartbeat from committing past this replica's log.
// A leader's heartbeat carries min(the follower's match, commit); a
// replica restarted with an empty disk has lost what its match counted, and
// raft panics on a commit past its last index. Committing less is always
// safe (commit never moves back; the next append brings the entries and
// the commit with them). What the lost log cost — votes and acknowledged
// entries this replica held for a majority — is not recovered: see
// docs/cluster.md on empty disks.
func clampCommit(g *group, m *pb.Message) {
	last, err := g.store.LastIndex()
	if err != nil {
		return
	}
	if m.GetCommit() > last {
		m.Commit = new(last)
	}
}
