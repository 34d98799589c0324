package multiraft

import (
	"maps"
	"slices"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// Quiescing makes idle groups free: 1,000 partitions with no traffic would
// otherwise cost a heartbeat and its answer per follower every
// HeartbeatTicks, and a Tick each, forever.
//
// A leader whose group has been idle for quiesceTicks (every follower has
// the whole log, everything is committed and applied, nothing is proposed
// or transferring) stops ticking it and sends each follower a quiesce note
// — a heartbeat carrying its commit index, marked as a quiesce note. A
// follower steps it as a heartbeat and, if it then agrees (same leader and
// term, its log exactly the committed one), stops ticking too. The quiet
// leader takes the heartbeat answers without waking. Quiet groups call
// TickQuiesced, which only ages the election clock: a quiet follower still
// grants votes after an election timeout without news, so an election can
// succeed. Any Raft message or proposal wakes a group.
//
// Safety does not depend on any of this (Raft never relies on ticks for
// it); liveness does: if a quiet group's leader dies, nothing would wake
// the followers. PeerDown, called by a node-level failure detector (the
// transport's keepalives, or the simulation's), wakes every quiet group led
// by the dead node; PeerRestarted, called when a node's process restarted
// too quickly to seem dead, wakes those led by its old process. A lost
// quiesce note leaves a follower ticking without
// heartbeats: it campaigns after its timeout and wins — a needless election,
// not an unsafe one.
//
// A replica that starts (or restarts) sends each other voter a wake note
// per group, so a quiet leader heartbeats again and the newcomer follows it
// instead of calling an election.

// quiesceTicks is how long a leader waits, idle, before it quiesces a group:
// long enough that a burst with pauses does not flap.
const quiesceTicks = 4

// maybeQuiesce counts an unquiet group's idle ticks and quiesces it when it
// has been idle long enough on a leader; it reports whether it did.
func (h *Host) maybeQuiesce(g *group) bool {
	if !g.idleLeader() || h.voterDown(g) {
		g.idleTicks = 0
		return false
	}
	g.idleTicks++
	if g.idleTicks < quiesceTicks {
		return false
	}
	st := g.rn.BasicStatus()
	g.quiet = true
	for _, id := range g.conf.GetVoters() {
		if id == g.self {
			continue
		}
		h.outbox = append(h.outbox, Envelope{Group: g.id, Quiesce: true, Msg: &pb.Message{
			Type: pb.MsgHeartbeat.Enum(), From: new(g.self), To: new(id),
			Term: new(st.GetTerm()), Commit: new(st.GetCommit()),
		}})
	}
	return true
}

// idleLeader reports whether this node leads g and g has nothing to do.
func (g *group) idleLeader() bool {
	st := g.rn.BasicStatus()
	if st.RaftState != raft.StateLeader || st.LeadTransferee != 0 || len(g.waits.list) > 0 || len(g.reads) > 0 || g.rn.HasReady() {
		return false
	}
	last, _ := g.store.LastIndex()
	if st.GetCommit() != last || g.applied != last || len(g.conf.GetVotersOutgoing()) > 0 {
		return false
	}
	caughtUp := true
	g.rn.WithProgress(func(_ uint64, _ raft.ProgressType, pr tracker.Progress) {
		if pr.Match != last {
			caughtUp = false
		}
	})
	return caughtUp
}

// followerQuiesce steps a leader's quiesce note as the heartbeat it is (so
// the follower learns the final commit index) and quiets g if this node
// follows that leader and holds exactly the committed log.
func (g *group) followerQuiesce(m *pb.Message) {
	last, _ := g.store.LastIndex()
	if m.GetCommit() > last {
		g.wake() // behind: let Raft catch it up first
		_ = g.rn.Step(&pb.Message{Type: pb.MsgHeartbeat.Enum(), From: new(m.GetFrom()), To: new(m.GetTo()), Term: new(m.GetTerm())})
		return
	}
	_ = g.rn.Step(m)
	st := g.rn.BasicStatus()
	if st.RaftState == raft.StateFollower && st.Lead == m.GetFrom() && st.GetTerm() == m.GetTerm() &&
		st.GetCommit() == m.GetCommit() {
		g.quiet = true
	}
}

// wake makes a quiet group tick again.
func (g *group) wake() {
	g.quiet, g.idleTicks = false, 0
}

// wakeAndTell wakes g for a reason of this node's (a read, a message from
// another follower). A quiet follower then tells its leader to wake too,
// and restarts its own election clock as if it had just heard from the
// leader: TickQuiesced aged that clock past the timeout, and a follower
// waking with it would campaign at its next tick instead of waiting for the
// leader's heartbeats. (PeerDown wakes with wakeToElect instead: there the
// leader is taken for dead.)
func (h *Host) wakeAndTell(g *group) {
	if g.quiet {
		if st := g.rn.BasicStatus(); st.RaftState == raft.StateFollower && st.Lead != 0 {
			h.outbox = append(h.outbox, Envelope{Group: g.id, Wake: true, Msg: &pb.Message{
				Type: pb.MsgHeartbeat.Enum(), From: new(g.self), To: new(st.Lead),
			}})
			heardFromLeader(g, st)
			g.toldLead = st.Lead
		}
	}
	g.wake()
}

// heardFromLeader restarts a follower's election clock (electionElapsed
// 0) by stepping a heartbeat from its leader at its own term and commit:
// nothing else of its state changes.
func heardFromLeader(g *group, st raft.BasicStatus) {
	_ = g.rn.Step(&pb.Message{
		Type: pb.MsgHeartbeat.Enum(), From: new(st.Lead), To: new(g.self),
		Term: new(st.GetTerm()), Commit: new(st.GetCommit()),
	})
}

// PeerDown tells the host that node seems dead: every quiet group it led
// wakes, its followers ready to elect another leader (wakeToElect) — so
// does a follower a peer's pre-vote woke a moment ago under that leader
// (toldLead) —, and every quiet group this node leads with node as a voter
// wakes, so CheckQuorum can depose a leader cut off from its quorum. While the node stays down no such group
// quiesces. Call it on every tick while the node stays down (a quiesce note
// from it may arrive late).
func (h *Host) PeerDown(node uint64) {
	h.downAt[node] = h.ticks
	for _, id := range h.order {
		g := h.groups[id]
		if !g.quiet && g.toldLead == 0 {
			continue
		}
		switch st := g.rn.BasicStatus(); {
		case NodeOf(st.Lead) == node && st.RaftState == raft.StateFollower && (g.quiet || g.toldLead == st.Lead):
			// Quiet, or woken a moment ago by a pre-vote from a follower
			// whose detector fired first (they fire up to ~350 ms apart):
			// that wake faked the dead leader's heartbeat, and the lease
			// it gave made this follower drop the pre-vote.
			h.wakeToElect(g, st)
		case NodeOf(st.Lead) == node || (st.RaftState == raft.StateLeader && hasNode(g.conf.GetVoters(), node)):
			g.wake()
		}
	}
}

// PeerRestarted tells the host that node's process restarted: the replicas
// of its old process are gone, yet it answered the failure detector all
// along, so PeerDown never came. Call it once per restart. For an election
// timeout from now (a quiesce note of the old process may still arrive),
// every quiet group following a leader there wakes as for a reason of its
// own (wakeAndTell): a leader that is gone loses the group about one
// election timeout later, and one the new process has since become (it
// may have won an election and quiesced already) wakes and heartbeats, so
// nobody deposes it.
func (h *Host) PeerRestarted(node uint64) {
	h.restartedAt[node] = h.ticks
	h.wakeRestarted()
}

// wakeRestarted wakes the quiet groups led from a node whose restart was
// reported within an election timeout, and forgets older restarts.
func (h *Host) wakeRestarted() {
	if len(h.restartedAt) == 0 {
		return
	}
	for _, node := range slices.Sorted(maps.Keys(h.restartedAt)) { // in order: the simulation replays
		if h.ticks-h.restartedAt[node] > uint64(h.cfg.ElectionTicks) {
			delete(h.restartedAt, node)
			continue
		}
		for _, id := range h.order {
			if g := h.groups[id]; g.quiet && NodeOf(g.rn.BasicStatus().Lead) == node {
				h.wakeAndTell(g)
			}
		}
	}
}

// wakeToElect wakes a quiet follower whose leader seems dead as if it had
// last heard from that leader an election timeout ago: out of its lease at
// once (it grants the others' votes), it campaigns itself at its own
// randomized timeout, 1 to ElectionTicks-1 ticks on. Woken with the clock
// that TickQuiesced had aged far past the timeout, every follower
// campaigned at its next tick, and together they often split the vote and
// waited another election timeout (the simulation: 21 of 30 failovers of a
// quiet group took about twice as long as without quiescing).
func (h *Host) wakeToElect(g *group, st raft.BasicStatus) {
	heardFromLeader(g, st)
	for range h.cfg.ElectionTicks {
		g.rn.TickQuiesced()
	}
	g.toldLead = 0 // once: again at every tick, it would never campaign
	g.wake()
}

// voterDown reports whether PeerDown named one of g's voters in this tick
// or the last.
func (h *Host) voterDown(g *group) bool {
	for _, v := range g.conf.GetVoters() {
		if at, ok := h.downAt[NodeOf(v)]; ok && at+1 >= h.ticks {
			return true
		}
	}
	return false
}

// Quiet reports how many groups are quiesced (see Node.Counts).
func (h *Host) Quiet() int {
	n := 0
	for _, g := range h.groups {
		if g.quiet {
			n++
		}
	}
	return n
}
