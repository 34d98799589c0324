package multiraft

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/raft/v3"
)

// Linearizable reads without writing to the log, by Raft's ReadIndex: the
// leader confirms with a quorum that it still leads and names its commit
// index; once this node has applied that index, its state machine reflects
// every write acknowledged before the read began. Works on followers too
// (the request goes to the leader and the index comes back).

// Reads asked between two passes share one request to raft (askReads):
// its read index is taken after every one of them began, so each stays
// linearizable, and a burst of reads costs the leader one round of
// heartbeats instead of one per read.

// read is one pending ReadIndex request of a group.
type read struct {
	id    uint64 // the request context, unique in this incarnation; 0 until asked
	term  uint64 // the group's term when raft was asked
	tick  uint64 // Host.ticks when asked
	index uint64 // the read index, once known
	known bool
	done  func(error)
}

// readTimeoutTicks bounds a read: raft drops a request silently when no
// leader is known, so one not answered within two election timeouts fails
// with ErrDropped (retry).
func (h *Host) readTimeoutTicks() uint64 { return uint64(2 * h.cfg.ElectionTicks) }

// ReadIndex asks for a linearizable read of group: done(nil) runs (from a
// later Process) once this node's state machine may be read, or done(err)
// if that cannot be known. The caller reads its state machine inside done.
func (h *Host) ReadIndex(group uint64, done func(error)) {
	if h.closed {
		done(ErrStopped)
		return
	}
	g, ok := h.groups[group]
	if !ok {
		done(fmt.Errorf("%w: %d", ErrUnknownGroup, group))
		return
	}
	h.wakeAndTell(g) // a read needs the leader's heartbeats
	g.reads = append(g.reads, &read{tick: h.ticks, done: done})
	if !g.readAsking {
		g.readAsking = true
		h.asking = append(h.asking, g)
	}
}

// askReads sends raft one ReadIndex request per group for the reads asked
// since the last pass. A group with no leader known is not asked yet:
// raft would drop the request, and its reads would wait out their whole
// timeout though a leader came a moment later (a node restarting with
// the whole cluster waited 4 s for its first consistent read of the
// metadata, and started its partitions that much later). settleReads
// asks again once a leader is known.
func (h *Host) askReads() {
	for _, g := range h.asking {
		g.readAsking = false
		if h.groups[g.id] != g {
			continue // removed since: its reads failed with it
		}
		st := g.rn.BasicStatus()
		if st.Lead == raft.None {
			continue
		}
		h.seq++
		for _, r := range g.reads {
			if r.id == 0 {
				r.id, r.term = h.seq, st.GetTerm()
			}
		}
		var rctx [16]byte
		binary.BigEndian.PutUint64(rctx[0:8], h.nonce)
		binary.BigEndian.PutUint64(rctx[8:16], h.seq)
		g.rn.ReadIndex(rctx[:])
	}
	clear(h.asking)
	h.asking = h.asking[:0]
}

// readStates records the read indexes a Ready brought.
func (h *Host) readStates(g *group) {
	for _, rs := range g.rd.ReadStates {
		if len(rs.RequestCtx) != 16 || binary.BigEndian.Uint64(rs.RequestCtx[0:8]) != h.nonce {
			continue
		}
		id := binary.BigEndian.Uint64(rs.RequestCtx[8:16])
		for _, r := range g.reads {
			if r.id == id {
				r.index, r.known = rs.Index, true
			}
		}
	}
}

// settleReads answers the reads whose index is applied, and fails those
// that waited too long.
func (h *Host) settleReads(g *group) {
	if len(g.reads) == 0 {
		return
	}
	st := g.rn.BasicStatus()
	out := g.reads[:0]
	unasked := false
	for _, r := range g.reads {
		switch {
		case r.known && r.index <= g.applied:
			r.done(nil)
		case h.ticks-r.tick > h.readTimeoutTicks():
			r.done(fmt.Errorf("%w: read index not confirmed", ErrDropped))
		default:
			if !r.known && r.id != 0 && st.GetTerm() > r.term {
				// Asked of a leader whose term is over: it died or
				// stepped down, and raft forgets what it was asked then.
				// Asked again of the next (a late answer to the first
				// request, no longer matching, is ignored; either would
				// be linearizable).
				r.id = 0
			}
			out = append(out, r)
			unasked = unasked || r.id == 0
		}
	}
	clear(g.reads[len(out):])
	g.reads = out
	if unasked && !g.readAsking && st.Lead != raft.None {
		// Held back by askReads while there was no leader, or asked
		// again after a change of term.
		g.readAsking = true
		h.asking = append(h.asking, g)
	}
}
