package node

import (
	"context"
	"errors"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

// Whether this node can serve as a member of its cluster. Nothing in the
// cluster changes without the metadata group's leader, and a node that
// cannot reach it (its peers down, or itself cut off) can neither create
// topics nor confirm what it knows; the partitions it leads cannot commit
// without a majority either. So such a node says it is not ready (for
// /readyz: load balancers then send clients elsewhere), and metadata reads
// and writes on it fail at once with the reason instead of waiting out
// their timeouts — once the leader has been missing for longer than an
// election takes (leaderWait), so an ordinary election costs nothing.

// readyRead bounds the read point Ready takes once: readiness probes
// time out after a second by default.
const readyRead = 500 * time.Millisecond

// leaderWait is how long the metadata group may be without a leader this
// node reaches before metadata requests fail at once and, after the first
// read point, the node stops counting as ready: two and a half election
// timeouts (5 s at the default timing), past the 2–4 s an election takes.
func (n *Node) leaderWait() time.Duration {
	return time.Duration(5*n.host.ElectionTicks()/2) * n.cfg.Tick
}

// noLeader is nil while this node has a metadata leader it can reach (it
// leads, or the transport hears from the leader), else UNAVAILABLE saying
// why: no Raft state yet and peers silent, no majority reachable, the
// leader unreachable, or an election under way. It records when a leader
// was last reachable (leaderless).
func (n *Node) noLeader(ctx context.Context) *api.Error {
	if !n.settled.Load() {
		silent := *n.silentPeers.Load()
		return api.ErrUnavailable.Withf("node %d has no Raft state yet and waits for its peers to say whether a cluster runs (a new cluster needs every node once); not answering: %s; retry",
			n.cfg.ID, n.peerList(silent)).WithDetail("node_id", n.cfg.ID).WithDetail("unreachable", silent)
	}
	st, err := n.raft.Status(ctx, meta.GroupID)
	if err != nil {
		if errors.Is(err, multiraft.ErrStopped) {
			return api.ErrUnavailable.Withf("node %d is shutting down", n.cfg.ID).WithDetail("node_id", n.cfg.ID)
		}
		return api.ErrUnavailable.Withf("node %d could not read its metadata group's state; retry", n.cfg.ID).WithDetail("node_id", n.cfg.ID)
	}
	down := n.downPeers()
	if st.Leader == n.cfg.ID || st.Leader != 0 && !down[st.Leader] {
		n.seeLeader()
		return nil
	}
	var silent []uint64
	for _, id := range n.peerIDs() {
		if down[id] {
			silent = append(silent, id)
		}
	}
	e := api.ErrUnavailable
	switch {
	case st.Leader != 0:
		e = e.Withf("node %d cannot reach the metadata leader, %s; retry", n.cfg.ID, n.peerList([]uint64{st.Leader}))
	case 2*(len(n.cfg.Peers)-len(silent)) <= len(n.cfg.Peers):
		e = e.Withf("node %d has no metadata leader: it reaches no majority of the cluster's %d nodes (unreachable: %s); retry",
			n.cfg.ID, len(n.cfg.Peers), n.peerList(silent))
	default:
		e = e.Withf("node %d has no metadata leader yet (an election is under way); retry", n.cfg.ID)
	}
	e = e.WithDetail("node_id", n.cfg.ID)
	if len(silent) > 0 {
		e = e.WithDetail("unreachable", silent)
	}
	return e
}

// leaderless is noLeader once the metadata group has been without a
// leader this node reaches for leaderWait (since the node opened or
// settled, or since it last had one); nil before. Within leaderWait of a
// leader seen (every tick, by watchLeader) it answers without asking the
// Raft loop, which a readiness probe should not wait for.
func (n *Node) leaderless(ctx context.Context) *api.Error {
	if n.sinceLeader() < n.leaderWait() {
		return nil
	}
	return n.noLeader(ctx)
}

// sawLeader records, every tick (watchLeader), whether st names a metadata
// leader this node reaches.
func (n *Node) sawLeader(st multiraft.Status) {
	if st.Leader == n.cfg.ID || st.Leader != 0 && !n.downPeers()[st.Leader] {
		n.seeLeader()
	}
}

// Ready is nil once this node serves as a member of the cluster: it has
// applied the metadata as of a read point taken since it started, and it
// has a metadata leader it reaches (or had one within leaderWait: an
// election does not make it unready). Otherwise UNAVAILABLE, saying why.
// A node with one peer of three down stays ready: the other two have a
// leader.
func (n *Node) Ready(ctx context.Context) error {
	if !n.confirmed.Load() {
		if e := n.noLeader(ctx); e != nil {
			return e
		}
		rctx, cancel := context.WithTimeout(ctx, readyRead)
		defer cancel()
		if err := n.raft.ReadIndex(rctx, meta.GroupID); err != nil {
			return api.ErrUnavailable.Withf("node %d has not caught up with the cluster's metadata yet; retry", n.cfg.ID).WithDetail("node_id", n.cfg.ID)
		}
		n.confirmed.Store(true)
		return nil
	}
	if e := n.leaderless(ctx); e != nil {
		return e
	}
	return nil
}

// unavailable is the coded answer when no read point of the metadata
// could be had (err: the read's failure): why, if this node knows
// (noLeader), never the internal error. All passing states, so
// retriable, and never logged as broker faults.
func (n *Node) unavailable(ctx context.Context, err error) error {
	if errors.Is(err, multiraft.ErrStopped) {
		return api.ErrUnavailable.Withf("node %d is shutting down", n.cfg.ID).WithDetail("node_id", n.cfg.ID)
	}
	if ctx.Err() != nil {
		return api.ErrUnavailable.Withf("the request ended before a metadata leader confirmed the read; retry").WithDetail("node_id", n.cfg.ID)
	}
	if e := n.noLeader(ctx); e != nil {
		return e
	}
	return api.ErrUnavailable.Withf("no metadata leader confirmed the read within %v; retry", readTimeout).WithDetail("node_id", n.cfg.ID)
}

// seeLeader records that this node has a metadata leader it reaches now.
// It stores time since opened, a reading of the monotonic clock: with the
// wall clock (UnixNano), a step back by d made a node without a leader
// look as if it had one for d more.
func (n *Node) seeLeader() { n.leaderSeen.Store(int64(time.Since(n.opened))) }

// sinceLeader is how long ago seeLeader was last called.
func (n *Node) sinceLeader() time.Duration {
	return time.Since(n.opened) - time.Duration(n.leaderSeen.Load())
}
