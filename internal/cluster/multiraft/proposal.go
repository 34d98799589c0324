package multiraft

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/raft/v3"
)

// NotLeaderError answers a proposal made on a node that does not lead the
// group. Leader is the leader this node knows of (0: none known yet).
type NotLeaderError struct {
	Group, Leader uint64
}

func (e *NotLeaderError) Error() string {
	if e.Leader == 0 {
		return fmt.Sprintf("multiraft: group %d: not the leader, no leader known", e.Group)
	}
	return fmt.Sprintf("multiraft: group %d: not the leader; the leader is node %d", e.Group, e.Leader)
}

// ErrDropped says a proposal was certainly not committed: another entry won
// its index, or it left the leader's log before it was persisted. Safe to
// retry.
var ErrDropped = errors.New("multiraft: proposal dropped")

// ErrUnknownOutcome says a proposal may or may not have been committed: this
// node jumped past its index with a snapshot. A retry may apply it twice.
var ErrUnknownOutcome = errors.New("multiraft: proposal outcome unknown")

// Result is the outcome of a proposal: the state machine's answer, or an
// error (see NotLeaderError, ErrDropped, ErrUnknownOutcome, ErrStopped).
type Result struct {
	Index uint64 // where the command was applied, when Err is nil
	Value any
	Err   error
}

// headerLen prefixes every proposed command: the proposer's node ID, the
// nonce of the proposer's incarnation and its sequence number, so the
// proposer recognises its entry when it is appended or applied. The nonce
// keeps an entry proposed before a restart (still travelling through the
// cluster) from being taken for a new proposal with the same sequence.
const headerLen = 24

// proposalID names one proposal cluster-wide.
type proposalID struct {
	node, nonce, seq uint64
}

// Propose submits cmd to group. done is called exactly once, from a later
// Process (or Close), or at once if the proposal cannot be made. cmd is
// copied before Propose returns.
func (h *Host) Propose(group uint64, cmd []byte, done func(Result)) {
	h.proposeFramed(group, framed(cmd), done)
}

// framed returns a copy of cmd after room for its proposal header. Node
// makes it on the caller's goroutine, so that the copy of a produce
// request's bytes is not made on the one goroutine that runs every group,
// and the caller's buffer is free as soon as it is made.
func framed(cmd []byte) []byte {
	data := make([]byte, headerLen+len(cmd))
	copy(data[headerLen:], cmd)
	return data
}

// proposeFramed is Propose of data made by framed: it writes the header
// into data and proposes it; data is Raft's from then on.
func (h *Host) proposeFramed(group uint64, data []byte, done func(Result)) {
	if h.closed {
		done(Result{Err: ErrStopped})
		return
	}
	g, ok := h.groups[group]
	if !ok {
		done(Result{Err: fmt.Errorf("%w: %d", ErrUnknownGroup, group)})
		return
	}
	st := g.rn.BasicStatus()
	if st.RaftState != raft.StateLeader {
		// A quiet follower stays quiet: the caller goes to the leader.
		done(Result{Err: &NotLeaderError{Group: group, Leader: NodeOf(st.Lead)}})
		return
	}
	if g.full {
		// Its log would grow past MaxUnsnapshotted (a leader catching up).
		done(Result{Err: ErrDropped})
		return
	}
	g.wake()
	h.seq++
	putHeader(data, proposalID{node: h.cfg.NodeID, nonce: h.nonce, seq: h.seq})
	if err := g.rn.Propose(data); err != nil {
		// A leader refuses while it transfers leadership or when too much
		// is uncommitted; both pass.
		done(Result{Err: fmt.Errorf("%w: %v", ErrDropped, err)})
		return
	}
	g.waits.add(h.seq, done)
}

// putHeader writes id into the header room of data, made by framed.
func putHeader(data []byte, id proposalID) {
	binary.BigEndian.PutUint64(data[0:8], id.node)
	binary.BigEndian.PutUint64(data[8:16], id.nonce)
	binary.BigEndian.PutUint64(data[16:24], id.seq)
}

// parseHeader splits an entry's data into the header putHeader wrote and
// the command after it; ok is false for data too short to hold a header
// (the empty entry a new leader appends).
func parseHeader(data []byte) (id proposalID, cmd []byte, ok bool) {
	if len(data) < headerLen {
		return proposalID{}, nil, false
	}
	id = proposalID{
		node:  binary.BigEndian.Uint64(data[0:8]),
		nonce: binary.BigEndian.Uint64(data[8:16]),
		seq:   binary.BigEndian.Uint64(data[16:24]),
	}
	return id, data[headerLen:], true
}

// wait is one pending proposal.
type wait struct {
	seq         uint64
	done        func(Result)
	bound       bool // index and term are known
	index, term uint64
}

// waits are a group's pending proposals, in proposal order (which is also
// index order once bound: a leader appends in the order it proposes).
type waits struct {
	list []*wait
}

func (w *waits) add(seq uint64, done func(Result)) {
	w.list = append(w.list, &wait{seq: seq, done: done})
}

// bind records where the leader appended proposal seq.
func (w *waits) bind(seq, index, term uint64) {
	for _, x := range w.list {
		if x.seq == seq && !x.bound {
			x.bound, x.index, x.term = true, index, term
			return
		}
	}
}

// dropUnbound fails the proposals that never reached the log: a Ready has
// been persisted since they were made and did not carry them, so a newer
// leader truncated them from the unstable log.
func (w *waits) dropUnbound() {
	w.filter(func(x *wait) bool {
		if !x.bound {
			x.done(Result{Err: ErrDropped})
			return false
		}
		return true
	})
}

// applied settles the proposals bound at or below index, given that the
// entry applied at index has term and is proposal id (self names this
// host's proposals); value is the state machine's answer.
func (w *waits) applied(index, term uint64, self, id proposalID, value any) {
	w.filter(func(x *wait) bool {
		switch {
		case !x.bound || x.index > index:
			return true
		case x.index == index && x.term == term && id == (proposalID{self.node, self.nonce, x.seq}):
			x.done(Result{Index: index, Value: value})
		default:
			x.done(Result{Err: ErrDropped})
		}
		return false
	})
}

// skipped settles the proposals at or below a snapshot's index: they may be
// inside it or not.
func (w *waits) skipped(index uint64) {
	w.filter(func(x *wait) bool {
		if x.bound && x.index <= index {
			x.done(Result{Err: ErrUnknownOutcome})
			return false
		}
		return true
	})
}

func (w *waits) failAll(err error) {
	for _, x := range w.list {
		x.done(Result{Err: err})
	}
	w.list = nil
}

// filter keeps the waits for which keep returns true.
func (w *waits) filter(keep func(*wait) bool) {
	out := w.list[:0]
	for _, x := range w.list {
		if keep(x) {
			out = append(out, x)
		}
	}
	clear(w.list[len(out):])
	w.list = out
}
