package node

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

// In-sync replicas. Only a partition's Raft leader knows how far each
// follower got (etcd raft's Progress), so the leader judges, every tick,
// which replicas are in sync, and reports its term and that set to the
// metadata (meta.ReportLeaders) whenever they differ from what the
// metadata records. Every node then answers leaders and ISR from the
// metadata — also for partitions it holds no replica of — unless its own
// Raft knows a newer term.
//
// A follower is in sync when both hold:
//   - the leader heard from it within the last election timeout (Raft's
//     RecentActive, kept by CheckQuorum, seen true at some tick of the
//     last timeout): a paused, dead or cut-off follower leaves within one
//     to two timeouts (2–8 s), even when no writes arrive to show it
//     falling behind;
//   - it was caught up within the last replicaLag: at some tick its log
//     held everything committed as of the tick before (Kafka's rule:
//     caught up to where the leader was, not chasing the very latest
//     write, so a follower busy with a stream of writes does not flap).
//
// The leader is always in its own set.

// replicaLag is how long a follower may go without catching up before it
// leaves the in-sync set (Kafka's replica.lag.time.max.ms, 30 s there;
// shorter here, where elections take 2–4 s).
const replicaLag = 10 * time.Second

// reportTimeout bounds one report's proposal; the next tick tries again.
const reportTimeout = 5 * time.Second

// ledGroup is what this node, as leader, last judged of a group.
type ledGroup struct {
	term uint64
	isr  []uint64 // sorted
}

// follow is a led group's in-sync tracking, owned by trackISR.
type follow struct {
	term       uint64
	prevCommit uint64               // the commit index at the previous tick
	caughtUp   map[uint64]time.Time // voter → when it last held prevCommit
	heard      map[uint64]time.Time // voter → when the leader last had heard from it (RecentActive)
}

func newFollow(l multiraft.Led) *follow {
	return &follow{term: l.Term, prevCommit: l.Commit, caughtUp: map[uint64]time.Time{}, heard: map[uint64]time.Time{}}
}

// judge returns the in-sync replicas (nodes, sorted) of l, a group self
// leads, at now, and moves f on to the next tick. A voter counts as heard
// from while the leader found it RecentActive within the last election
// timeout: CheckQuorum clears RecentActive at every timeout until the
// follower's next answer, and a live follower of a group that keeps
// ticking left the set for that moment, every timeout (a restarted node's
// partitions flapped to an ISR of the leader alone every 2 s).
func (f *follow) judge(l multiraft.Led, now time.Time, self uint64, electionTimeout time.Duration) []uint64 {
	isr := []uint64{}
	for _, v := range l.Voters {
		if v.Match >= f.prevCommit {
			f.caughtUp[v.ID] = now
		}
		if v.RecentActive {
			f.heard[v.ID] = now
		}
		// Voters are replica IDs; the ISR names nodes. While a rejoined
		// node's new replica replaces its old one both vote for a
		// moment: name the node once.
		node := multiraft.NodeOf(v.ID)
		caught, ok := f.caughtUp[v.ID]
		heard, active := f.heard[v.ID]
		inSync := ok && now.Sub(caught) < replicaLag && active && now.Sub(heard) <= electionTimeout
		if (node == self || inSync) && !slices.Contains(isr, node) {
			isr = append(isr, node)
		}
	}
	slices.Sort(isr)
	f.prevCommit = l.Commit
	return isr
}

// trackISR judges, every tick, the in-sync replicas of the groups this
// node leads and publishes them in n.isr.
func (n *Node) trackISR(ctx context.Context) {
	tracked := map[uint64]*follow{}
	electionTimeout := time.Duration(n.host.ElectionTicks()) * n.cfg.Tick
	n.everyTick(ctx, func() {
		led, err := n.raft.Led(ctx)
		if err != nil {
			return
		}
		now := time.Now()
		out := make(map[uint64]ledGroup, len(led))
		for g, l := range led {
			f := tracked[g]
			if f == nil || f.term != l.Term {
				f = newFollow(l) // a new term: judge afresh from the current commit
				tracked[g] = f
			}
			out[g] = ledGroup{term: l.Term, isr: f.judge(l, now, n.cfg.ID, electionTimeout)}
		}
		for g := range tracked {
			if _, ok := led[g]; !ok {
				delete(tracked, g)
			}
		}
		n.pmu.Lock()
		n.isr = out
		n.pmu.Unlock()
	})
}

// reportLeaders proposes, every tick, the leadership of the groups this
// node leads where the metadata records something else. A lost proposal
// costs nothing: the next tick finds the difference again.
func (n *Node) reportLeaders(ctx context.Context) {
	var seq uint64
	n.everyTick(ctx, func() {
		n.pmu.Lock()
		mine := n.isr
		n.pmu.Unlock()
		if len(mine) == 0 {
			return
		}
		recorded := map[uint64]meta.Partition{}
		for _, t := range n.meta.Topics() {
			for _, p := range t.Partitions {
				if _, ok := mine[p.Group]; ok {
					recorded[p.Group] = p
				}
			}
		}
		var reps []meta.LeaderReport
		for g, l := range mine {
			if g >= groupShardBase {
				// A shard: only its leader and term are recorded.
				if sl, ok := n.meta.ShardLeader(g); !ok || sl.Leader != n.cfg.ID || sl.Term != l.term {
					reps = append(reps, meta.LeaderReport{Group: g, Term: l.term, ISR: l.isr})
				}
				continue
			}
			p, ok := recorded[g]
			if !ok || (p.Leader == n.cfg.ID && p.LeaderEpoch == l.term && sameSet(p.ISR, l.isr)) {
				continue
			}
			reps = append(reps, meta.LeaderReport{Group: g, Term: l.term, ISR: l.isr})
		}
		if len(reps) == 0 {
			return
		}
		seq++
		for i := range reps {
			reps[i].Seq = seq
		}
		slices.SortFunc(reps, func(a, b meta.LeaderReport) int { return cmp.Compare(a.Group, b.Group) })
		pctx, cancel := context.WithTimeout(ctx, reportTimeout)
		defer cancel()
		if _, err := n.Propose(pctx, meta.Command{ReportLeaders: &meta.ReportLeaders{Node: n.cfg.ID, Reports: reps}}); err != nil && ctx.Err() == nil {
			n.log.Debug("cluster: reporting partition leaders failed; retrying", "err", err)
		}
	})
}

// sameSet reports whether a and b hold the same IDs.
func sameSet(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// PartitionView is p's leader, its epoch (Raft term) and in-sync replicas
// (in replica order) as this node knows them: from its own Raft where it
// holds a replica and knows a term at least as new as the metadata's
// record, else from the record (meta.ReportLeaders) unless it names this
// node (only this node's Raft may say this node leads, so that it serves
// reads only as the leader); before any record, a node that holds no
// replica names p's preferred replica, epoch 0 (a NOT_LEADER answer from
// it is always safe to follow).
//
// A leader on a node this one counts down (Listed) is not named while too
// few of p's replicas are alive for its group to elect another (Offline):
// no leader, and the ISR without the down nodes, as Kafka shows leader -1
// when no replica is alive. Nobody reports the loss of such a group's
// leader, so the record would name the dead node for as long as it is
// down, and clients would be sent to it. A group with a majority alive is
// shown as known: it elects a new leader within seconds, which reports.
//
// A lost partition (Lost) has no leader, whatever was recorded.
func (n *Node) PartitionView(p meta.Partition) (leader, epoch uint64, isr []uint64) {
	return n.partitionView(p, n.Listed)
}

// Offline is the replicas of a partition (node IDs) that this node counts
// down (Listed) when they leave its Raft group without a live majority,
// so that it can have no leader until enough of them return; nil while a
// majority is alive.
func (n *Node) Offline(replicas []uint64) []uint64 { return offline(replicas, n.Listed) }

// offline is Offline's rule, listed saying which nodes are alive.
func offline(replicas []uint64, listed func(uint64) bool) []uint64 {
	var down []uint64
	for _, id := range replicas {
		if !listed(id) {
			down = append(down, id)
		}
	}
	if len(down) == 0 || 2*(len(replicas)-len(down)) > len(replicas) {
		return nil
	}
	return down
}

// partitionView is PartitionView, listed saying which nodes are alive.
func (n *Node) partitionView(p meta.Partition, listed func(uint64) bool) (leader, epoch uint64, isr []uint64) {
	if n.meta.Lost(p) != nil {
		return 0, 0, nil // the leader last recorded is a forgotten replica
	}
	leader, epoch, isr = n.raftView(p)
	if leader == 0 || leader == n.cfg.ID || listed(leader) {
		return leader, epoch, isr
	}
	down := offline(p.Replicas, listed)
	if down == nil {
		return leader, epoch, isr
	}
	return 0, 0, slices.DeleteFunc(isr, func(id uint64) bool { return slices.Contains(down, id) })
}

// raftView is PartitionView before the liveness of nodes is considered.
func (n *Node) raftView(p meta.Partition) (leader, epoch uint64, isr []uint64) {
	n.pmu.Lock()
	st := n.leaders[p.Group] // zero until the group has started and elected
	mine, leads := n.isr[p.Group]
	n.pmu.Unlock()
	hosted := n.cfg.Logs != nil && slices.Contains(p.Replicas, n.cfg.ID)
	switch {
	case hosted && st.Term >= p.LeaderEpoch:
		if st.Leader == 0 {
			return 0, 0, nil // electing: nobody to send a client to yet
		}
		leader, epoch = st.Leader, st.Term
		switch {
		case leads && mine.term == st.Term:
			isr = mine.isr
		case p.LeaderEpoch == st.Term:
			isr = p.ISR
		default:
			isr = []uint64{leader} // the new leader has not judged yet
		}
	case p.Leader == n.cfg.ID:
		// The record names this node, but its own Raft does not say it
		// leads: a record from before this node restarted (its group
		// not started or not elected yet). Naming itself would have it
		// serve reads from a copy that may be behind; nobody is known.
		return 0, 0, nil
	case p.Leader != 0:
		leader, epoch, isr = p.Leader, p.LeaderEpoch, p.ISR
	case len(p.Replicas) > 0:
		return p.Replicas[0], 0, nil
	default:
		return 0, 0, nil
	}
	return leader, epoch, inReplicaOrder(p.Replicas, isr)
}

// inReplicaOrder is the members of set in the order of replicas.
func inReplicaOrder(replicas, set []uint64) []uint64 {
	out := make([]uint64, 0, len(set))
	for _, id := range replicas {
		if slices.Contains(set, id) {
			out = append(out, id)
		}
	}
	return out
}
