package multiraft

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// Replica identities. Raft assumes a member never forgets what it
// persisted: a vote, an acknowledged entry. A node restarted with an empty
// disk has forgotten both, so it must never speak again under the Raft ID
// it had — it could elect a leader missing acknowledged entries, and the
// leader's progress for it (Match above its now empty log) would ignore
// its rejections forever. Each start from nothing therefore gets a new
// generation, and a replica's Raft ID is ReplicaID(node, generation): the
// node part routes messages, the generation makes the identity new.
// Generation 0 is the node ID itself, so directories written before
// generations existed keep their identity.
//
// The new replica joins each group as a learner, is caught up by the
// leader (a snapshot, then appends), and is promoted in one joint
// configuration change that also removes its node's older replica
// (Reconfigure): both the old and the new majority must agree on
// everything during the change, and the forgotten replica never votes
// again. etcd's member replace and CockroachDB's replica IDs follow the
// same rule: identity belongs to durable state, not to the machine.

// maxNode is the largest node ID: a replica ID keeps the node in its low
// 32 bits.
const maxNode = 1<<32 - 1

// ReplicaID is the Raft ID of node's replica of generation gen.
func ReplicaID(node, gen uint64) uint64 { return gen<<32 | node }

// NodeOf is the node a Raft ID belongs to.
func NodeOf(id uint64) uint64 { return id & maxNode }

// GenOf is a Raft ID's generation.
func GenOf(id uint64) uint64 { return id >> 32 }

// FormatReplica writes a Raft ID as node.generation, for logs.
func FormatReplica(id uint64) string { return fmt.Sprintf("%d.%d", NodeOf(id), GenOf(id)) }

func hasNode(ids []uint64, node uint64) bool {
	return slices.ContainsFunc(ids, func(id uint64) bool { return NodeOf(id) == node })
}

// catchUpSlack is how far behind the leader's last index a learner may be
// and still be promoted: under steady writes it is never exactly level.
// Promotion is safe at any lag (joint consensus); the lag bounds only how
// long the new majority may wait for the newcomer.
const catchUpSlack = 64

// Membership returns group's configuration as of its last applied entry.
func (h *Host) Membership(group uint64) (*pb.ConfState, error) {
	g, ok := h.groups[group]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownGroup, group)
	}
	return pb.EnsureConfState(g.conf), nil
}

// Reconfigure moves group's configuration one step towards want (the Raft
// IDs that should vote) if this node leads it; it reports whether it
// proposed a change. Call it on every node: a follower uses want to notice
// a forgotten leader. Called again and again (every tick) it converges: a
// replica in want and not in the group is added as a learner; a learner in
// want that is caught up is promoted, in the same joint change that
// removes its node's older replicas; a learner of an older generation than
// want's is removed; a joint configuration raft did not leave is left. It
// never reinstates an older generation of a node and never removes a
// node's only voter without promoting its successor, so a caller whose
// want is stale (its metadata lags) at worst does nothing. The last want
// is kept: TransferLeader aims at no replica outside it.
// Nodes absent from want are left alone: moving a partition between nodes
// is not this method's business.
func (h *Host) Reconfigure(group uint64, want []uint64) (bool, error) {
	g, ok := h.groups[group]
	if !ok {
		return false, fmt.Errorf("%w: %d", ErrUnknownGroup, group)
	}
	cs := pb.EnsureConfState(g.conf)
	if lead := g.rn.BasicStatus().Lead; g.quiet && lead != 0 && slices.ContainsFunc(want, func(w uint64) bool {
		return NodeOf(w) == NodeOf(lead) && GenOf(w) > GenOf(lead)
	}) {
		// A quiet follower whose leader is a replica its node has since
		// forgotten: the node is alive (so no PeerDown wakes the group)
		// but that leader never speaks again. Awake, the group elects.
		g.wake()
	}
	if !slices.Equal(g.want, want) { // every tick, for every group: no garbage when unchanged
		g.want = slices.Clone(want)
	}
	if g.rn.BasicStatus().RaftState != raft.StateLeader ||
		(len(cs.Learners) == 0 && len(cs.VotersOutgoing) == 0 && !slices.ContainsFunc(want, func(w uint64) bool { return !slices.Contains(cs.Voters, w) })) {
		return false, nil // the steady state, checked without copying raft's progress
	}
	// One change at a time: a change in the log but not applied is
	// pending (raft would turn a second one into an empty entry).
	if g.applied < g.confIndex {
		return false, nil
	}
	if len(cs.VotersOutgoing) > 0 {
		// A joint configuration applied and nothing after it: leave it.
		// Raft proposes the leave itself (auto leave) when its leader
		// applies the joint entry, but only then: if that proposal is
		// dropped (a leadership transfer under way drops every
		// proposal), it tries again when it applies another entry,
		// which an idle group never does — it stayed joint, its new
		// replica never counted as rejoined, and no later change could
		// be made.
		return h.propose(group, g, nil)
	}
	st := g.rn.Status()
	last, err := g.store.LastIndex()
	if err != nil {
		return false, err
	}
	members := slices.Concat(cs.Voters, cs.Learners)
	newest := func(node uint64) uint64 { // the highest generation of node in the group
		var gen uint64
		for _, id := range members {
			if NodeOf(id) == node && GenOf(id) > gen {
				gen = GenOf(id)
			}
		}
		return gen
	}
	var changes []*pb.ConfChangeSingle
	add := func(t pb.ConfChangeType, id uint64) {
		changes = append(changes, &pb.ConfChangeSingle{Type: t.Enum(), NodeId: new(id)})
	}
	// Learners superseded by a newer wanted generation: a replica wiped
	// again while it caught up.
	for _, l := range cs.Learners {
		for _, w := range want {
			if NodeOf(w) == NodeOf(l) && GenOf(w) > GenOf(l) {
				add(pb.ConfChangeType_ConfChangeRemoveNode, l)
			}
		}
	}
	if len(changes) == 0 {
		for _, w := range want {
			if !slices.Contains(members, w) && (!hasNode(members, NodeOf(w)) || GenOf(w) > newest(NodeOf(w))) {
				add(pb.ConfChangeType_ConfChangeAddLearnerNode, w)
				break // one learner at a time: each costs the leader a snapshot
			}
		}
	}
	if len(changes) == 0 {
		prs := st.Progress
		for _, l := range cs.Learners {
			pr, ok := prs[l]
			if !slices.Contains(want, l) || !ok || pr.State != tracker.StateReplicate || pr.Match+catchUpSlack < last {
				continue
			}
			add(pb.ConfChangeType_ConfChangeAddNode, l)
			for _, v := range cs.Voters {
				if NodeOf(v) == NodeOf(l) && GenOf(v) < GenOf(l) {
					add(pb.ConfChangeType_ConfChangeRemoveNode, v)
				}
			}
		}
	}
	if len(changes) == 0 {
		return false, nil
	}
	return h.propose(group, g, changes)
}

// propose proposes changes to g as one automatic-transition ConfChangeV2
// (none: leave the joint configuration) and reports whether raft took it.
func (h *Host) propose(group uint64, g *group, changes []*pb.ConfChangeSingle) (bool, error) {
	g.wake()
	cc := &pb.ConfChangeV2{Changes: changes}
	if len(changes) > 0 {
		cc.Transition = pb.ConfChangeTransition_ConfChangeTransitionAuto.Enum()
	}
	if err := g.rn.ProposeConfChange(cc); err != nil {
		return false, nil // refused while a transfer runs: try again later
	}
	what := "leaving the joint configuration"
	if len(changes) > 0 {
		what = fmt.Sprint(describe(changes))
	}
	h.cfg.Logger.Infof("multiraft: group %d: proposing configuration change %s", group, what)
	return true, nil
}

func describe(changes []*pb.ConfChangeSingle) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.GetType().String() + " " + FormatReplica(c.GetNodeId())
	}
	return out
}

// AddReplica runs Host.AddReplica on the node's goroutine.
func (n *Node) AddReplica(ctx context.Context, id, self uint64, voters []uint64, sm StateMachine) error {
	return n.call(ctx, func(h *Host) error { return h.AddReplica(id, self, voters, sm) })
}

// Reconfigure runs Host.Reconfigure for each group of wants (group → the
// Raft IDs that should vote) in one visit of the node's goroutine; groups
// it does not host (removed since wants was made: a topic deleted) or
// does not lead are skipped. A group that fails does not stop the others:
// the first error is returned after all were tried.
func (n *Node) Reconfigure(ctx context.Context, wants map[uint64][]uint64) error {
	return n.call(ctx, func(h *Host) error {
		var first error
		for group, want := range wants {
			if _, err := h.Reconfigure(group, want); err != nil && !errors.Is(err, ErrUnknownGroup) && first == nil {
				first = err
			}
		}
		return first
	})
}

// Membership runs Host.Membership on the node's goroutine.
func (n *Node) Membership(ctx context.Context, group uint64) (*pb.ConfState, error) {
	var cs *pb.ConfState
	err := n.call(ctx, func(h *Host) error {
		var err error
		cs, err = h.Membership(group)
		return err
	})
	return cs, err
}

// Memberships returns the configuration of every hosted group, read in one
// visit of the node's goroutine.
func (n *Node) Memberships(ctx context.Context) (map[uint64]*pb.ConfState, error) {
	out := map[uint64]*pb.ConfState{}
	err := n.call(ctx, func(h *Host) error {
		for _, id := range h.order {
			out[id] = pb.EnsureConfState(proto.Clone(h.groups[id].conf).(*pb.ConfState))
		}
		return nil
	})
	if err != nil {
		return nil, err // out may still be written by the loop
	}
	return out, nil
}
