package multiraft

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	gosync "sync"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// Process handles every group's Ready: it persists snapshots, entries and
// hard states, syncs each store that wrote (Config.ConcurrentSyncs at
// once), then applies committed entries, settles proposals, takes
// snapshots that are due, and advances. It returns the messages to send,
// which may go only now that what they promise is durable. An error is a
// storage failure: the host must stop (a node that cannot persist must not
// vote or acknowledge).
//
// early, if not nil, is given before the syncs the messages that may leave
// while this node's own writes are in flight: a leader's appends and
// heartbeats (mayLeaveEarly). A leader's disk write then overlaps its
// followers' (the Raft thesis, §10.2.1), which takes one fsync off every
// commit's path. It is safe because raft counts the leader's own copy of an
// entry only after Advance, once it is durable: an entry commits on a
// majority of durable copies either way.
func (h *Host) Process(early func([]Envelope)) ([]Envelope, error) {
	if h.closed {
		return nil, ErrStopped
	}
	h.askReads()
	var ready []*group
	var first []Envelope
	for _, id := range h.order {
		g := h.groups[id]
		if !g.rn.HasReady() {
			continue
		}
		rd := g.rn.Ready()
		g.rd = &rd
		prev, _, _ := g.store.InitialState()
		if err := g.persist(h.self()); err != nil {
			return nil, fmt.Errorf("multiraft: group %d: %w", id, err)
		}
		g.late = g.late[:0]
		for _, m := range rd.Messages {
			if early != nil && mayLeaveEarly(&rd, prev, m) {
				first = append(first, Envelope{Group: g.id, Msg: m})
			} else {
				g.late = append(g.late, m)
			}
		}
		ready = append(ready, g)
	}
	if len(first) > 0 {
		early(first)
	}
	if err := h.sync(ready); err != nil {
		return nil, err
	}
	out := h.outbox
	h.outbox = nil
	for _, g := range ready {
		for _, m := range g.late {
			out = append(out, Envelope{Group: g.id, Msg: m})
		}
		if err := h.apply(g); err != nil {
			return nil, fmt.Errorf("multiraft: group %d: %w", g.id, err)
		}
		h.readStates(g)
		g.rn.Advance(*g.rd)
		g.rd = nil
	}
	// Every group, not only those with a Ready: a read may wait for its
	// index to be applied or for its timeout; a full group applies nothing
	// new, so its snapshot is asked for here, as is that of a group whose
	// state machine wants one (a quiet partition's retention waits for it:
	// EntryStore.WantsSnapshot).
	for _, id := range h.order {
		g := h.groups[id]
		h.settleReads(g)
		if es, ok := g.sm.(EntryStore); ok && !g.snapWanted && g.applied > g.snapAt && es.WantsSnapshot() {
			g.snapWanted = true
			if err := h.snapshot(g); err != nil {
				return nil, fmt.Errorf("multiraft: group %d: %w", g.id, err)
			}
		}
		if g.full {
			if err := h.snapshot(g); err != nil {
				return nil, fmt.Errorf("multiraft: group %d: %w", g.id, err)
			}
		}
	}
	if err := h.trimLogs(); err != nil {
		return nil, err
	}
	return out, nil
}

// mayLeaveEarly reports whether m, of the Ready rd that followed the hard
// state prev, may be sent before rd is durable: a leader's append or
// heartbeat, when rd changes neither term nor vote and installs no
// snapshot. The raft README allows sending a batch's messages while its
// entries are written, never before its hard state is; and responses
// (MsgAppResp, votes) promise this node's own durable state.
func mayLeaveEarly(rd *raft.Ready, prev *pb.HardState, m *pb.Message) bool {
	switch m.GetType() {
	case pb.MsgApp, pb.MsgHeartbeat:
	default:
		return false
	}
	hs := rd.HardState
	if !raft.IsEmptySnap(rd.Snapshot) {
		return false
	}
	return raft.IsEmptyHardState(hs) || (hs.GetTerm() == prev.GetTerm() && hs.GetVote() == prev.GetVote())
}

// sync makes every ready group's writes that must be durable before its
// messages leave so.
func (h *Host) sync(ready []*group) error {
	var dirty []*group
	for _, g := range ready {
		if g.store.Dirty() {
			dirty = append(dirty, g)
		}
	}
	return h.syncStores(dirty, func(g *group) error { return g.store.Sync() })
}

// syncStores runs sync on each of groups, up to ConcurrentSyncs at once:
// each group has its own files, and one fsync after another made a pass
// as slow as the sum of them.
func (h *Host) syncStores(groups []*group, sync func(*group) error) error {
	errs := make([]error, len(groups))
	if len(groups) <= 1 || h.cfg.ConcurrentSyncs <= 1 {
		for i, g := range groups {
			errs[i] = sync(g)
		}
	} else {
		var wg gosync.WaitGroup
		slots := make(chan struct{}, h.cfg.ConcurrentSyncs)
		for i, g := range groups {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				errs[i] = sync(g)
			})
		}
		wg.Wait()
	}
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("multiraft: group %d: %w", groups[i].id, err)
		}
	}
	return nil
}

// persist writes the group's Ready to its store, unsynced, and binds the
// proposals that its leader appended.
func (g *group) persist(self proposalID) error {
	rd := g.rd
	if !raft.IsEmptySnap(rd.Snapshot) {
		if es, ok := g.sm.(EntryStore); ok {
			es.SnapshotArrived() // before the store records it: see there
		}
		if err := g.store.ApplySnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	if err := g.store.Save(rd.HardState, rd.Entries); err != nil {
		return err
	}
	// Entries from the first one on replace what the log held there: a
	// configuration change among the replaced ones will never be
	// applied, and waiting for it (Reconfigure, TransferLeader) would
	// wait for good in an idle group. Forgetting an older pending one is
	// harmless: raft itself refuses a second change while one is pending.
	if len(rd.Entries) > 0 && g.confIndex >= rd.Entries[0].GetIndex() {
		g.confIndex = 0
	}
	// Bind the proposals that reached the log, whatever this node's role is
	// now: a leader that stepped down since proposing still has the entry,
	// and it may yet commit.
	for _, e := range rd.Entries {
		if e.GetType() != pb.EntryNormal {
			g.confIndex = max(g.confIndex, e.GetIndex())
		}
		if id, _, ok := parseHeader(e.GetData()); ok && e.GetType() == pb.EntryNormal && id.node == self.node && id.nonce == self.nonce {
			g.waits.bind(id.seq, e.GetIndex(), e.GetTerm())
		}
	}
	g.waits.dropUnbound()
	return nil
}

// apply applies the Ready's snapshot and committed entries in order.
func (h *Host) apply(g *group) error {
	rd := g.rd
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := g.sm.Restore(rd.Snapshot.GetData()); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		md := rd.Snapshot.GetMetadata()
		g.applied, g.snapAt, g.conf = md.GetIndex(), md.GetIndex(), md.GetConfState()
		g.bytesSince, g.kept, g.full = 0, 0, false
		g.waits.skipped(md.GetIndex())
	}
	confChanged := false
	for _, e := range rd.CommittedEntries {
		if e.GetIndex() <= g.applied {
			continue // inside a snapshot applied in this pass
		}
		confChanged = confChanged || e.GetType() != pb.EntryNormal
		if e.GetIndex() != g.applied+1 {
			return fmt.Errorf("applying entry %d after %d", e.GetIndex(), g.applied)
		}
		if err := h.applyEntry(g, e); err != nil {
			return err
		}
		g.applied = e.GetIndex()
		g.bytesSince += uint64(len(e.GetData()))
	}
	// A configuration change is followed by a snapshot at once: a replica
	// it adds starts empty, and raft drops a snapshot whose configuration
	// does not name its recipient, so the one the leader sends it must be
	// at least this recent.
	g.snapWanted = g.snapWanted || confChanged
	return h.snapshot(g)
}

// snapshot takes g's snapshot and compacts its log if one is due. A
// state machine that puts it off is asked again after the next applied
// entry, or, once g is full, at every pass.
func (h *Host) snapshot(g *group) error {
	if !(g.applied-g.snapAt >= h.cfg.SnapshotEvery || g.bytesSince >= h.cfg.SnapshotBytes || (g.snapWanted && g.applied > g.snapAt)) {
		return nil
	}
	return h.takeSnapshot(g, h.keep(g))
}

// trimLogs brings the applied entries the node's groups hold in memory
// together back to three quarters of MaxLogBytes once they hold more than
// it (so that it does not trim at every pass). First it drops the tails
// kept behind snapshots, largest first, as far as no live follower still
// needs them (dropTail): that writes nothing. A group idle
// since its snapshot could give its tail back no other way (a snapshot
// needs a newer index), and the busy ones were snapshotted ever earlier
// to make up for the idle ones' tails. Then it snapshots the groups
// holding the most, at most maxTrimsPerPass a pass: a partition's
// snapshot syncs its log, and the pass holds every group's appends and
// heartbeats meanwhile. It leaves alone a group holding less than
// SnapshotBytes/16, or than its share of a quarter of the bound (a
// snapshot is not worth its syncs for less), and one whose state machine
// puts its snapshot off (counted still: MaxUnsnapshotted bounds it).
func (h *Host) trimLogs() error {
	var total uint64
	for _, id := range h.order {
		g := h.groups[id]
		total += g.bytesSince + g.kept
	}
	if total <= h.cfg.MaxLogBytes {
		return nil
	}
	target := h.cfg.MaxLogBytes / 4 * 3
	var tails []*group
	for _, id := range h.order {
		if g := h.groups[id]; g.kept > 0 {
			tails = append(tails, g)
		}
	}
	slices.SortStableFunc(tails, func(a, b *group) int { return cmp.Compare(b.kept, a.kept) })
	for _, g := range tails {
		if total <= target {
			return nil
		}
		before := g.kept
		if err := h.dropTail(g); err != nil {
			return fmt.Errorf("multiraft: group %d: %w", g.id, err)
		}
		total -= before - g.kept
	}
	least := min(h.cfg.SnapshotBytes/16, h.cfg.MaxLogBytes/4/uint64(len(h.order)))
	var large []*group
	for _, id := range h.order {
		if g := h.groups[id]; g.bytesSince+g.kept >= least && g.applied > g.snapAt {
			large = append(large, g)
		}
	}
	slices.SortStableFunc(large, func(a, b *group) int { return cmp.Compare(b.bytesSince+b.kept, a.bytesSince+a.kept) })
	trimmed := 0
	for _, g := range large {
		if total <= target || trimmed == maxTrimsPerPass {
			break
		}
		before := g.bytesSince + g.kept
		if err := h.takeSnapshot(g, h.trimKeep(g)); err != nil {
			return fmt.Errorf("multiraft: group %d: %w", g.id, err)
		}
		if after := g.bytesSince + g.kept; after < before {
			total -= before - after
			trimmed++
		}
	}
	return nil
}

// dropTail drops from memory the entries g's last snapshot left behind
// it, but those a live follower has yet to get, where g leads: one taking
// appends in step (trimKeep keeps those too), or one probed again after a
// moment out of reach (the transport's report of one failed send puts
// every group's follower on that node in probe), whose tail would else
// cost it a snapshot — for a partition, a copy of its bytes.
func (h *Host) dropTail(g *group) error {
	to := g.snapAt
	if st := g.rn.Status(); st.RaftState == raft.StateLeader {
		for id, pr := range st.Progress {
			live := pr.State == tracker.StateReplicate || pr.State == tracker.StateProbe && pr.RecentActive && pr.Match > 0
			if id != st.ID && live && pr.Match < to {
				to = pr.Match
			}
		}
	}
	first, err := g.store.FirstIndex()
	if err != nil {
		return err
	}
	held := g.snapAt - min(first-1, g.snapAt) // entries kept behind the snapshot
	if held == 0 {
		g.kept = 0
		return nil
	}
	if to < first {
		return nil
	}
	if err := g.store.DropKept(to); err != nil {
		return err
	}
	g.kept = g.kept * (g.snapAt - to) / held
	return nil
}

// maxTrimsPerPass bounds the snapshots trimLogs takes in one pass.
const maxTrimsPerPass = 2

// trimKeep is how many entries a snapshot trimLogs takes leaves behind
// it: a quarter of those since the last one, and, where g leads, as far
// back as a replica taking its appends in step still needs (up to about
// MaxInflightBytes of entries), so that a follower a window behind gets
// appends, not a snapshot — for a partition, a copy of its bytes from
// another node. Never more than SnapshotKeep.
func (h *Host) trimKeep(g *group) uint64 {
	n := g.applied - g.snapAt
	keep := max(n/4, 1)
	if st := g.rn.Status(); st.RaftState == raft.StateLeader {
		most := h.cfg.MaxInflightBytes / max(g.bytesSince/max(n, 1), 1)
		for id, pr := range st.Progress {
			if id != st.ID && pr.State == tracker.StateReplicate && pr.Match < g.applied {
				keep = max(keep, min(g.applied-pr.Match, most))
			}
		}
	}
	return min(keep, h.cfg.SnapshotKeep)
}

// takeSnapshot takes g's snapshot, keeping keep entries behind it in its
// log, unless its state machine puts it off.
func (h *Host) takeSnapshot(g *group, keep uint64) error {
	data, err := g.sm.Snapshot()
	if errors.Is(err, ErrSnapshotLater) {
		g.full = g.bytesSince >= h.cfg.MaxUnsnapshotted
		return nil
	}
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := g.store.CreateSnapshot(g.applied, g.conf, data, keep); err != nil {
		return err
	}
	if es, ok := g.sm.(EntryStore); ok {
		es.SnapshotSaved()
	}
	if n := g.applied - g.snapAt; n > 0 {
		// The entries kept are the last of those applied since the last
		// snapshot (or, keeping more than those, some before them).
		g.kept = min(keep, n) * (g.bytesSince / n)
	}
	g.snapAt, g.snapWanted, g.bytesSince, g.full = g.applied, false, 0, false
	return nil
}

func (h *Host) applyEntry(g *group, e *pb.Entry) error {
	switch e.GetType() {
	case pb.EntryNormal:
		id, cmd, ok := parseHeader(e.GetData())
		if !ok {
			// The empty entry a new leader appends: nothing to apply, but
			// it settles any proposal that lost this index.
			g.waits.applied(e.GetIndex(), e.GetTerm(), h.self(), proposalID{}, nil)
			return nil
		}
		v := g.sm.Apply(e.GetIndex(), cmd)
		g.waits.applied(e.GetIndex(), e.GetTerm(), h.self(), id, v)
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return fmt.Errorf("entry %d: %w", e.GetIndex(), err)
		}
		g.conf = g.rn.ApplyConfChange(&cc)
		g.waits.applied(e.GetIndex(), e.GetTerm(), h.self(), proposalID{}, nil)
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return fmt.Errorf("entry %d: %w", e.GetIndex(), err)
		}
		g.conf = g.rn.ApplyConfChange(&cc)
		g.waits.applied(e.GetIndex(), e.GetTerm(), h.self(), proposalID{}, nil)
	default:
		return errors.New("unknown entry type " + e.GetType().String())
	}
	return nil
}

// maxReplayPasses bounds ApplyCommitted: raft hands back what storage
// holds as committed in passes of at most MaxInflightBytes each.
const maxReplayPasses = 1 << 16

// ApplyCommitted applies to the state machines, before the host runs,
// what their stores already hold as committed (the commit index of their
// last hard state), and keeps any message that produced for the first
// Process to return. Without it a restarted host's state machines hold
// only their snapshots until its loop runs and a caller reading them
// meanwhile sees a state older than what this node applied before it
// stopped. (The cluster's metadata is such a state: a broker that answered
// from it before the replay took a topic it had made for the cluster for
// one of its own, and wrote a publish to its local copy alone.)
func (h *Host) ApplyCommitted() error {
	for range maxReplayPasses {
		out, err := h.Process(nil)
		h.outbox = append(h.outbox, out...)
		if err != nil {
			return err
		}
		if !h.hasReady() {
			return nil
		}
	}
	return errors.New("multiraft: the stores' committed entries did not settle")
}

func (h *Host) hasReady() bool {
	for _, id := range h.order {
		if h.groups[id].rn.HasReady() {
			return true
		}
	}
	return false
}

// keep is how many entries to leave behind a snapshot of g: SnapshotKeep,
// fewer when the entries since the last snapshot were large (about a
// quarter of SnapshotBytes of them, at their average size). A follower
// further behind gets the snapshot, as it would past SnapshotKeep.
func (h *Host) keep(g *group) uint64 {
	n := g.applied - g.snapAt
	if n == 0 || g.bytesSince == 0 {
		return h.cfg.SnapshotKeep
	}
	avg := max(g.bytesSince/n, 1)
	return min(h.cfg.SnapshotKeep, max(h.cfg.SnapshotBytes/4/avg, 1))
}
