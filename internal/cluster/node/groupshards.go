package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/cluster/groupstore"
	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

// The consumer groups' durable state lives in groupstore.Shards Raft
// groups, each a groupstore.State, created by every node at Open beside
// the metadata group (no metadata entry places them: their voters derive
// from --peers, which every node of a static cluster shares). Shard i is
// replicated on up to three nodes, from the i-th of the sorted peers on,
// and that first one campaigns, so the shards' leaders, the groups'
// coordinators, spread over the nodes; another leader hands the shard back
// to it once it is alive again, as partitions' leaders do (its groups'
// members rejoin there, which costs them what a failover costs). A leader first commits a claim of
// its shard under its term and only then hands the shard's groups to the
// GroupShardSink; it takes them back when it stops leading, or leads again
// under a later term (a quick loss and win between two looks).

// GroupShardSink takes the consumer groups of the shards this node leads.
// Its calls come from one goroutine, in order.
type GroupShardSink interface {
	// LeadGroupShard: this node coordinates shard's groups under epoch
	// from now on; st holds their state (every earlier write applied).
	LeadGroupShard(shard int, epoch uint64, st *groupstore.State)
	// LoseGroupShard: it no longer does.
	LoseGroupShard(shard int)
}

// groupShardBase is the Raft group ID of shard 0: far above the
// partitions' groups, which the metadata numbers from 1 and keeps below
// it.
const groupShardBase = meta.PartitionGroups

// claimTimeout bounds a new leader's claim of a shard.
const claimTimeout = 5 * time.Second

// groupShard is one shard as this node sees it. voters is immutable;
// claimed (the term of this node's claim applied, 0 while it does not
// coordinate the shard) and the times below are owned by
// watchGroupShards, claimed also read under pmu.
type groupShard struct {
	st                                    *groupstore.State // nil: this node holds no replica
	voters                                []uint64
	claimed                               uint64
	claimedAt, lastCampaign, lastTransfer time.Time
	waitFrom                              time.Time // since when a hand-back waits for its replica to be in step
}

// shardVoters are shard i's replicas among the sorted peers: up to three,
// from the i-th on, wrapping around.
func shardVoters(i int, peers []uint64) []uint64 {
	n := min(3, len(peers))
	out := make([]uint64, n)
	for k := range n {
		out[k] = peers[(i+k)%len(peers)]
	}
	return out
}

// planGroupShards lays out the shards and the state of those this node
// replicates (at Open); startGroupShards then starts their replicas.
func (n *Node) planGroupShards() {
	peers := n.peerIDs()
	n.gshards = make([]*groupShard, groupstore.Shards)
	for i := range n.gshards {
		gs := &groupShard{voters: shardVoters(i, peers)}
		if slices.Contains(gs.voters, n.cfg.ID) {
			gs.st = groupstore.New()
		}
		n.gshards[i] = gs
	}
}

// startGroupShards starts this node's replicas of the shards through add,
// as startMeta starts the metadata's: at Open when the node has Raft
// state, else once it has settled its generation. Every shard's first
// voters are its nodes at generation 0 (shards exist from a cluster's
// first start); a rejoined node starts its replicas empty and reconfigure
// has the leaders add them.
func (n *Node) startGroupShards(add func(id, self uint64, voters []uint64, sm multiraft.StateMachine) error) error {
	for i, gs := range n.gshards {
		if gs.st == nil {
			continue
		}
		sm := durableShard{gs.st, n.cfg.GroupDurability}
		if err := add(groupShardBase+uint64(i), n.self(), n.bootVoters(gs.voters, nil), sm); err != nil {
			return fmt.Errorf("cluster: open consumer group shard %d: %w", i, err)
		}
	}
	return nil
}

// durableShard is a shard's state machine with its durability
// (multiraft.Durable).
type durableShard struct {
	*groupstore.State
	d multiraft.Durability
}

func (s durableShard) Durability() multiraft.Durability { return s.d }

// GroupShardLeader is the node coordinating shard's groups as this node
// knows it: its Raft leader where this node holds a replica (0 while none
// is known), else its preferred replica, which redirects if it must.
// ready is true when that is this node and its claim is applied.
func (n *Node) GroupShardLeader(shard int) (leader uint64, ready bool) {
	gs := n.gshards[shard]
	if gs.st == nil {
		return n.shardNamed(shard), false
	}
	n.pmu.Lock()
	defer n.pmu.Unlock()
	st := n.leaders[groupShardBase+uint64(shard)]
	return st.Leader, st.IsLeader && gs.claimed == st.Term
}

// shardNamed is the leader a node that holds no replica of shard names:
// the one last reported to the metadata, if this node counts it alive
// (Listed); else the first voter it counts alive, which redirects if it
// does not lead (its own Raft knows who does); else the preferred voter.
func (n *Node) shardNamed(shard int) uint64 {
	gs := n.gshards[shard]
	if sl, ok := n.meta.ShardLeader(groupShardBase + uint64(shard)); ok && n.Listed(sl.Leader) {
		return sl.Leader
	}
	for _, v := range gs.voters {
		if n.Listed(v) {
			return v
		}
	}
	return gs.voters[0]
}

// ProposeGroupState proposes cmd to shard and returns once it is applied
// here: the state machine's refusal (groupstore.ErrFenced), or the
// proposal's failure (a *multiraft.NotLeaderError naming the leader,
// multiraft.ErrDropped, ErrUnknownOutcome, ctx's error).
func (n *Node) ProposeGroupState(ctx context.Context, shard int, cmd groupstore.Command) error {
	gs := n.gshards[shard]
	if gs.st == nil {
		return &multiraft.NotLeaderError{Group: groupShardBase + uint64(shard), Leader: n.shardNamed(shard)}
	}
	b, err := cmd.Encode()
	if err != nil {
		return err
	}
	r, err := n.raft.Propose(ctx, groupShardBase+uint64(shard), b)
	if err != nil {
		return err
	}
	if err, ok := r.Value.(error); ok {
		return err
	}
	return nil
}

// ConfirmGroupShard returns once this node is confirmed to lead shard in
// term epoch at a moment after the call: a ReadIndex of the shard, which a
// majority answers, with this node its leader in that term after it. The
// caller must know that this node led the term already before the call
// (epoch is its claim, committed as leader): a node leads a term from its
// election until it steps down, never again after, so it was the leader
// that served the read. (Without that premise a read a follower forwarded
// to the last term's leader, then an election won, would pass.) Errors as
// ProposeGroupState's.
func (n *Node) ConfirmGroupShard(ctx context.Context, shard int, epoch uint64) error {
	gs := n.gshards[shard]
	g := groupShardBase + uint64(shard)
	if gs.st == nil {
		return &multiraft.NotLeaderError{Group: g, Leader: n.shardNamed(shard)}
	}
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	if err := n.raft.ReadIndex(rctx, g); err != nil {
		return err
	}
	st, err := n.raft.Status(rctx, g)
	if err != nil {
		return err
	}
	if !st.IsLeader || st.Term != epoch {
		return &multiraft.NotLeaderError{Group: g, Leader: st.Leader}
	}
	return nil
}

// watchGroupShards follows the leadership of the shards this node
// replicates (as watchPartitions last read it) until ctx ends: it claims
// a shard it has come to lead and hands it to the sink, takes back one it
// lost, and campaigns for a leaderless shard it is the preferred replica
// of.
func (n *Node) watchGroupShards(ctx context.Context) {
	var steps stepCheck
	n.everyTick(ctx, func() {
		inStep := n.stepsThisTick(ctx, &steps)
		down := n.downPeers()
		for i, gs := range n.gshards {
			if gs.st == nil {
				continue
			}
			g := groupShardBase + uint64(i)
			n.pmu.Lock()
			st, seen := n.leaders[g]
			n.pmu.Unlock()
			if !seen {
				continue // statuses not read yet
			}
			if gs.claimed != 0 && (!st.IsLeader || st.Term != gs.claimed) {
				n.setClaimed(gs, 0)
				n.cfg.GroupShards.LoseGroupShard(i)
				n.log.Info("consumer group shard: no longer its coordinator", "shard", i, "leader", st.Leader, "epoch", st.Term)
			}
			preferred := gs.voters[0]
			switch {
			case st.IsLeader && gs.claimed == 0:
				if !n.registeredNow() || n.leaving.Load() {
					continue // see registeredNow; a leaving node hands it off (shed)
				}
				n.claimGroupShard(ctx, i, gs, st.Term)
			case st.IsLeader && preferred != n.cfg.ID && !down[preferred] &&
				time.Since(gs.claimedAt) >= transferAfter && time.Since(gs.lastTransfer) >= transferEvery:
				gs.lastTransfer = time.Now()
				if !inStep(preferred) {
					// Its copies still catching up (a restart): its
					// groups' commits would be refused past them.
					if gs.waitFrom.IsZero() {
						gs.waitFrom = gs.lastTransfer
					}
					if time.Since(gs.waitFrom) < stepWaitCap {
						gs.lastTransfer = gs.lastTransfer.Add(stepRecheck - transferEvery)
						continue
					}
					n.log.Warn("consumer group shard: handing it back although its preferred replica's copies still trail", "shard", i, "to", preferred, "waited", stepWaitCap)
				}
				gs.waitFrom = time.Time{}
				if err := n.raft.TransferLeader(ctx, g, preferred); err == nil {
					n.log.Info("consumer group shard: handing it to its preferred replica", "shard", i, "to", preferred)
				}
			case st.Leader == 0 && standIn(gs.voters, n.cfg.ID, down) && !n.leaving.Load() && time.Since(gs.lastCampaign) >= campaignEvery:
				gs.lastCampaign = time.Now()
				_ = n.raft.Campaign(ctx, g) // only fails for a group not hosted
			}
		}
	})
}

// stepRecheck is how soon a shard's hand-back to a replica not yet in step
// is tried again, and stepWaitCap how long it waits for that at most: a
// replica that stays behind (a slow disk under steady load) gets its
// shard back anyway, with a warning, rather than never.
const (
	stepRecheck = time.Second
	stepWaitCap = time.Minute
)

// stepCheck is what watchGroupShards saw of the Raft groups this node
// leads at its last look: each one's commit index, and when.
type stepCheck struct {
	commits map[uint64]uint64
	at      time.Time
}

// stepsThisTick returns a function reporting whether a node's replicas are
// in step: in every group this node leads, each replica of that node's
// (voter or learner) has reached the commit index of this node's previous
// look, if that look is at most two rechecks old (else there is nothing
// to compare with yet, and the answer is no). It reads the groups once,
// at its first call. A group shard goes back to its preferred replica only
// then: restarted, that node coordinated its groups at once while its
// copies of their partitions still lagged, and refused their commits as
// past the high watermark (about 1.5 s in a helper's sarama run, stop 38).
// Comparing with where the leader was a second before, not with where it
// is, lets a follower that trails a busy log by a moment count as in step.
// The groups this node does not lead are not seen; they catch up
// alongside.
func (n *Node) stepsThisTick(ctx context.Context, sc *stepCheck) func(node uint64) bool {
	var (
		led         map[uint64]multiraft.Led
		prev        map[uint64]uint64
		read, fresh bool
	)
	return func(node uint64) bool {
		if !read {
			read = true
			cctx, cancel := context.WithTimeout(ctx, stepRecheck)
			l, err := n.raft.Led(cctx)
			cancel()
			if err != nil {
				return false
			}
			led, prev, fresh = l, sc.commits, time.Since(sc.at) <= 2*stepRecheck
			sc.commits, sc.at = make(map[uint64]uint64, len(led)), time.Now()
			for g, x := range led {
				sc.commits[g] = x.Commit
			}
		}
		return led != nil && fresh && inStepWith(led, prev, node)
	}
}

// inStepWith reports whether, in each group of led that node has a
// replica in, that replica's log reaches prev's commit index for the group
// (a group prev does not have is new since: its replicas are taken as in
// step).
func inStepWith(led map[uint64]multiraft.Led, prev map[uint64]uint64, node uint64) bool {
	for g, l := range led {
		for _, v := range slices.Concat(l.Voters, l.Learners) {
			if multiraft.NodeOf(v.ID) == node && v.Match < prev[g] {
				return false
			}
		}
	}
	return true
}

// registeredNow reports whether this process's registration is applied:
// the metadata it has applied is then at least as recent as its start, so
// it knows every topic its groups' offsets may name (the coordinator
// names a cluster topic in the replicated offsets by the metadata's topic
// ID). A restarted node claims no shard before.
func (n *Node) registeredNow() bool {
	for _, m := range n.meta.Nodes() {
		if m.ID == n.cfg.ID {
			return m.Boot == n.boot
		}
	}
	return false
}

// claimGroupShard commits this node's claim of shard under term and hands
// the shard to the sink; a claim that fails is tried again next tick, if
// this node still leads.
func (n *Node) claimGroupShard(ctx context.Context, shard int, gs *groupShard, term uint64) {
	cctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	err := n.ProposeGroupState(cctx, shard, groupstore.Command{Claim: &groupstore.Claim{Epoch: term}})
	if err != nil {
		if ctx.Err() == nil && !errors.As(err, new(*multiraft.NotLeaderError)) {
			n.log.Warn("consumer group shard: claim failed; retrying", "shard", shard, "epoch", term, "err", err)
		}
		return
	}
	// The sink first: a request let through once claimed is set finds
	// the shard's groups there.
	n.cfg.GroupShards.LeadGroupShard(shard, term, gs.st)
	n.setClaimed(gs, term)
	gs.claimedAt = time.Now()
	n.log.Info("consumer group shard: coordinating its groups", "shard", shard, "epoch", term)
}

func (n *Node) setClaimed(gs *groupShard, term uint64) {
	n.pmu.Lock()
	gs.claimed = term
	n.pmu.Unlock()
}
