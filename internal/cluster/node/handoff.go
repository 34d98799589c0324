package node

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/periodic"
)

// handOffEvery is how often HandOff looks again at what this node leads.
const handOffEvery = 50 * time.Millisecond

// handOffSilence is how long a peer may have sent nothing and still be
// given a group: a few of the transport's keep-alives (250 ms). A peer
// stopped just before (the nodes of a cluster stopped one after another)
// is silent by then, and one stopping needs no more of this node's wait
// than that: the down detector's 2 s would hand groups to it, and raft
// would wait an election timeout on each such transfer.
const handOffSilence = time.Second

// HandOff moves the leadership of every Raft group this node leads
// (partitions, consumer group shards, the metadata) to another voter in
// step with its log, and returns once it leads none, once no group it
// leads has a voter to take it, or when ctx ends; it returns how many it
// still leads, and the error of a Raft loop that is gone (nothing could
// be handed off then). A node stopping cleanly calls it before it stops
// serving, as Kafka's controlled shutdown moves leaders first: a group whose leader
// just stops has none until its followers' election timeout, and every
// publish to it and every commit of its groups fails meanwhile (2.2–2.7 s
// on a loaded 2-core machine); a group handed off answers under its new
// leader within a round trip, and clients follow the NOT_LEADER answers
// this node gives from then on. From the first call on the node is
// leaving until Run returns: it campaigns for no group and claims no
// group shard, and shed hands off whatever it comes to lead again (the
// others, which do not know it is leaving, hand a group back to its
// preferred replica once they have led it a while, and draining may take
// that long).
func (n *Node) HandOff(ctx context.Context) (left int, err error) {
	n.leaving.Store(true)
	defer n.leave.Do(func() { close(n.left) }) // shed goes on from here
	t := time.NewTicker(handOffEvery)
	defer t.Stop()
	for {
		led, started, err := n.handOffRound(ctx)
		if err != nil || led == 0 || started == 0 {
			return led, err // done, nobody can take what is left, or the loop is gone
		}
		select {
		case <-ctx.Done():
			return led, nil
		case <-t.C:
		}
	}
}

// shed runs until ctx ends: once HandOff has returned, it hands off every
// handOffEvery whatever the leaving node leads again.
func (n *Node) shed(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-n.left:
	}
	periodic.Every(ctx, handOffEvery, func() { _, _, _ = n.handOffRound(ctx) })
}

// handOffRound asks, for each group this node leads, a transfer to the
// first of its handOffTargets that can take it (raft ignores a transfer
// asked again while it runs). It returns how many groups the node leads
// and for how many a transfer started.
func (n *Node) handOffRound(ctx context.Context) (led, started int, err error) {
	leads, err := n.raft.Led(ctx)
	if err != nil {
		return len(leads), 0, err
	}
	down := map[uint64]bool{}
	for _, id := range n.tr.Silent(handOffSilence) {
		down[id] = true
	}
	for g, l := range leads {
		for _, to := range handOffTargets(l, n.cfg.ID, down) {
			if n.raft.TransferLeader(ctx, g, to) == nil {
				started++
				break
			}
		}
	}
	return len(leads), started, nil
}

// handOffTargets are the nodes that may take group l from self: its other
// voters that the leader heard from lately and that are not down, the
// furthest in the log first.
func handOffTargets(l multiraft.Led, self uint64, down map[uint64]bool) []uint64 {
	vs := slices.Clone(l.Voters)
	slices.SortStableFunc(vs, func(a, b multiraft.Follower) int { return cmp.Compare(b.Match, a.Match) })
	var out []uint64
	for _, v := range vs {
		if node := multiraft.NodeOf(v.ID); node != self && v.RecentActive && !down[node] {
			out = append(out, node)
		}
	}
	return out
}
