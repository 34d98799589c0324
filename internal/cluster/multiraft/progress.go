package multiraft

import (
	"cmp"
	"context"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/tracker"
)

// Follower is one voter's replication as its group's leader tracks it.
type Follower struct {
	ID    uint64
	Match uint64 // the highest index known to be in its log
	// RecentActive: the leader heard from it within the last election
	// timeout (CheckQuorum resets it every timeout).
	RecentActive bool
}

// Led is a group this node leads: its term, commit index, voters and
// learners (replicas catching up before they vote).
type Led struct {
	Term, Commit uint64
	Voters       []Follower // by replica ID (multiraft.NodeOf names the node), the leader among them
	Learners     []Follower // by replica ID
}

// Led returns the groups this node leads with their voters' progress,
// read in one visit of the node's goroutine.
func (n *Node) Led(ctx context.Context) (map[uint64]Led, error) {
	out := map[uint64]Led{}
	err := n.call(ctx, func(h *Host) error {
		for _, id := range h.order {
			g := h.groups[id]
			st := g.rn.BasicStatus()
			if st.RaftState != raft.StateLeader {
				continue
			}
			l := Led{Term: st.GetTerm(), Commit: st.GetCommit()}
			g.rn.WithProgress(func(id uint64, typ raft.ProgressType, pr tracker.Progress) {
				f := Follower{ID: id, Match: pr.Match, RecentActive: pr.RecentActive}
				if typ == raft.ProgressTypePeer {
					l.Voters = append(l.Voters, f)
				} else {
					l.Learners = append(l.Learners, f)
				}
			})
			byID := func(a, b Follower) int { return cmp.Compare(a.ID, b.ID) }
			slices.SortFunc(l.Voters, byID)
			slices.SortFunc(l.Learners, byID)
			out[id] = l
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Counts is how many Raft groups a node hosts, leads and has quiesced.
type Counts struct{ Hosted, Led, Quiet int }

// Counts counts this node's groups, in one visit of its goroutine.
func (n *Node) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	err := n.call(ctx, func(h *Host) error {
		c = Counts{Hosted: len(h.groups), Quiet: h.Quiet()}
		for _, g := range h.groups {
			if g.rn.BasicStatus().RaftState == raft.StateLeader {
				c.Led++
			}
		}
		return nil
	})
	if err != nil { // fn may still run: c is not read
		return Counts{}, err
	}
	return c, nil
}
