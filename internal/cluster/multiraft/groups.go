package multiraft

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/raft/v3/tracker"
)

// Partition groups come and go while the node runs (the metadata names
// them), so the Node offers, on its own goroutine, what the Host does for
// a caller that owns it: adding a group, campaigning, moving leadership,
// and every group's status in one visit.

// Campaign makes this node stand for election in group now rather than at
// its election timeout: a partition's preferred replica does it when it
// starts the group, so leaders spread over the nodes as placement intends.
// With PreVote and CheckQuorum it disturbs nothing while a live leader
// exists (the others refuse a pre-vote inside their leader's lease).
func (h *Host) Campaign(group uint64) error {
	g, ok := h.groups[group]
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownGroup, group)
	}
	g.wake()
	return g.rn.Campaign()
}

// TransferLeader asks group's leader (this node) to hand leadership to
// node's voting replica once it has the whole log; raft gives up after an
// election timeout. It reports whether it started a transfer.
//
// While a transfer runs the leader drops every proposal, configuration
// changes included, so it starts none while the group is being
// reconfigured (a learner to promote, a joint configuration to leave):
// a wiped node's new replica is promoted first, and then takes the
// leadership. Nor does it hand leadership to a replica the last
// Reconfigure did not want — a forgotten one, which would never answer
// and would only block the group's proposals for an election timeout.
// Nor to a replica that is not taking appends in step with the log (within
// catchUpSlack of it): raft would send it appends until it has the whole
// log, and one that drops them (a full replica, see
// Config.MaxUnsnapshotted) would never have it.
func (h *Host) TransferLeader(group, node uint64) bool {
	g, ok := h.groups[group]
	if !ok || len(g.conf.GetLearners()) > 0 || len(g.conf.GetVotersOutgoing()) > 0 || g.applied < g.confIndex {
		return false
	}
	last, err := g.store.LastIndex()
	if err != nil {
		return false
	}
	prs := g.rn.Status().Progress
	for _, v := range g.conf.GetVoters() {
		pr, known := prs[v]
		if !known || pr.State != tracker.StateReplicate || pr.Match+catchUpSlack < last {
			continue
		}
		if NodeOf(v) == node && (g.want == nil || slices.Contains(g.want, v)) {
			g.wake()
			g.rn.TransferLeader(v)
			return true
		}
	}
	return false
}

// AddGroup runs Host.AddGroup on the node's goroutine.
func (n *Node) AddGroup(ctx context.Context, id uint64, voters []uint64, sm StateMachine) error {
	return n.call(ctx, func(h *Host) error { return h.AddGroup(id, voters, sm) })
}

// Campaign runs Host.Campaign on the node's goroutine.
func (n *Node) Campaign(ctx context.Context, group uint64) error {
	return n.call(ctx, func(h *Host) error { return h.Campaign(group) })
}

// ErrNoTransfer answers a TransferLeader that started no transfer.
var ErrNoTransfer = errors.New("multiraft: no leadership transfer: the group is reconfiguring, or the node has no wanted voter in it in step with the log")

// TransferLeader runs Host.TransferLeader on the node's goroutine;
// ErrNoTransfer says it started none.
func (n *Node) TransferLeader(ctx context.Context, group, node uint64) error {
	return n.call(ctx, func(h *Host) error {
		if !h.TransferLeader(group, node) {
			return ErrNoTransfer
		}
		return nil
	})
}

// Statuses returns the status of every hosted group, read in one visit of
// the node's goroutine.
func (n *Node) Statuses(ctx context.Context) (map[uint64]Status, error) {
	out := map[uint64]Status{}
	err := n.call(ctx, func(h *Host) error {
		for _, id := range h.order {
			st, err := h.Status(id)
			if err != nil {
				return err
			}
			out[id] = st
		}
		return nil
	})
	if err != nil {
		return nil, err // out may still be written by the loop
	}
	return out, nil
}

// call runs fn on the node's goroutine and returns its error.
func (n *Node) call(ctx context.Context, fn func(*Host) error) error {
	ch := make(chan error, 1)
	if err := n.do(ctx, func(h *Host) { ch <- fn(h) }); err != nil {
		return err
	}
	return n.await(ctx, ch)
}

// await returns what ch answers, unless ctx ends or the node stops first.
func (n *Node) await(ctx context.Context, ch <-chan error) error {
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
}
