package multiraft

import (
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// Durability is when a group's log entries are synced to disk. Term and
// vote are synced before any message that depends on them whatever it is:
// a node that forgot its vote could vote twice in a term.
type Durability int

const (
	// SyncEachPass syncs entries in the pass that writes them, before any
	// message that promises them leaves, so an entry commits on a
	// majority of fsynced copies. The default, and what a topic with
	// fsync=always gets.
	SyncEachPass Durability = iota
	// SyncOnFlush writes entries in their pass and syncs them at the next
	// Flush (Node runs one every Config.FlushEvery, beside its loop; one
	// that falls due while the last still runs starts when it ends, so a
	// slow fsync stretches the interval by its own length): an entry commits on a
	// majority of copies that are written, which survives a process crash
	// (SIGKILL) of any number of nodes, but not a power loss of a majority
	// within FlushEvery. fsync=interval.
	SyncOnFlush
	// SyncByOS leaves entries to the OS's writeback: they are synced only
	// with a snapshot, a term or vote change, or on Close. fsync=never.
	SyncByOS
)

// Durable is a StateMachine that says when its group's entries are synced;
// AddReplica asks it once. Any other's are synced each pass.
//
// A group whose replica lost entries it had acknowledged (a power loss
// under SyncOnFlush or SyncByOS) is still correct Raft only while a
// majority kept them: see docs/cluster.md on fsync policies.
type Durable interface {
	Durability() Durability
}

// durabilityOf is sm's Durability.
func durabilityOf(sm StateMachine) Durability {
	if d, ok := sm.(Durable); ok {
		return d.Durability()
	}
	return SyncEachPass
}

// Flush syncs what the SyncOnFlush groups wrote since they last synced.
func (h *Host) Flush() error {
	if h.closed {
		return ErrStopped
	}
	var due []*group
	for _, id := range h.order {
		if g := h.groups[id]; g.durability == SyncOnFlush && g.store.Unsynced() {
			due = append(due, g)
		}
	}
	return h.syncStores(due, func(g *group) error { return g.store.Flush() })
}

// FlushLater is Flush for a caller that goes on processing meanwhile: it
// returns the syncs to run on another goroutine (nil if there are none),
// which must return before the host closes. A SyncOnFlush entry is
// acknowledged once written, so passes go on while they run; a store
// waits for its pending sync only where it must (a vote's Sync, a
// snapshot's Flush, a rotation, Close). Run on the loop, Flush held every
// group of the node for as long as the disk took (docs/cluster.md,
// "The loop waiting on the disk").
func (h *Host) FlushLater() func() error {
	if h.closed {
		return nil
	}
	var due []*group
	syncs := make(map[*group]func() error)
	for _, id := range h.order {
		g := h.groups[id]
		if g.durability != SyncOnFlush {
			continue
		}
		if sync := g.store.FlushLater(); sync != nil {
			due = append(due, g)
			syncs[g] = sync
		}
	}
	if len(due) == 0 {
		return nil
	}
	return func() error { return h.syncStores(due, func(g *group) error { return syncs[g]() }) }
}

// handOffForgotten handles a rejection m from a follower of g whose log
// ends below what it acknowledged: it lost entries in a power loss (they
// were written, not synced), or, for a state machine that keeps its
// entries' commands itself (EntryStore), their commands were gone when it
// restarted. etcd raft's leader takes such a rejection for a stale one and
// never sends the entries again (a probing leader never goes below what
// was acknowledged either), so the follower would stay behind until the
// leadership changes. The leader hands it to an up-to-date voter, whose
// fresh progress probes the follower and brings it back. (A stale
// rejection overtaken by an acknowledgement costs a needless transfer;
// one connection per node pair keeps them rare. A probing leader's
// rejection counts only if it answers the probe.)
func handOffForgotten(g *group, m *pb.Message) {
	st := g.rn.Status()
	if st.RaftState != raft.StateLeader || st.LeadTransferee != 0 {
		return
	}
	pr, ok := st.Progress[m.GetFrom()]
	if !ok || m.GetRejectHint() >= pr.Match {
		return
	}
	switch pr.State {
	case tracker.StateReplicate:
	case tracker.StateProbe:
		if m.GetIndex() != pr.Next-1 {
			return // an answer to an earlier probe
		}
	default:
		return
	}
	last := st.Progress[g.self].Match
	for id, p := range st.Progress {
		if id != g.self && id != m.GetFrom() && !p.IsLearner && p.Match >= last {
			g.wake()
			g.rn.TransferLeader(id)
			return
		}
	}
}
