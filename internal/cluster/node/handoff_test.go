package node

import (
	"slices"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

func TestHandOffTargets(t *testing.T) {
	r := func(node, gen, match uint64, active bool) multiraft.Follower {
		return multiraft.Follower{ID: multiraft.ReplicaID(node, gen), Match: match, RecentActive: active}
	}
	for _, tc := range []struct {
		name   string
		voters []multiraft.Follower
		down   map[uint64]bool
		want   []uint64
	}{
		{"the furthest in the log first", []multiraft.Follower{r(1, 1, 90, true), r(2, 1, 80, true), r(3, 2, 90, true)}, nil, []uint64{3, 2}},
		{"not itself, even if furthest", []multiraft.Follower{r(1, 1, 99, true), r(2, 1, 10, true)}, nil, []uint64{2}},
		{"not one the leader has not heard from", []multiraft.Follower{r(1, 1, 90, true), r(2, 1, 90, false), r(3, 1, 50, true)}, nil, []uint64{3}},
		{"not a node gone silent", []multiraft.Follower{r(1, 1, 90, true), r(2, 1, 90, true), r(3, 1, 90, true)}, map[uint64]bool{3: true}, []uint64{2}},
		{"nobody", []multiraft.Follower{r(1, 1, 90, true), r(2, 1, 90, true)}, map[uint64]bool{2: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := handOffTargets(multiraft.Led{Voters: tc.voters}, 1, tc.down)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("targets %v, want %v", got, tc.want)
			}
		})
	}
}

func TestInStepWith(t *testing.T) {
	r := func(node, match uint64) multiraft.Follower {
		return multiraft.Follower{ID: multiraft.ReplicaID(node, 1), Match: match, RecentActive: true}
	}
	led := func(commit uint64, vs ...multiraft.Follower) multiraft.Led {
		return multiraft.Led{Commit: commit, Voters: vs}
	}
	learning := func(l multiraft.Led, f multiraft.Follower) multiraft.Led {
		l.Learners = append(l.Learners, f)
		return l
	}
	for _, tc := range []struct {
		name string
		led  map[uint64]multiraft.Led
		prev map[uint64]uint64 // commit indexes at the previous look
		want bool
	}{
		{"nothing led", nil, nil, true},
		{"reached the last look everywhere", map[uint64]multiraft.Led{1: led(120, r(1, 120), r(2, 100)), 2: led(60, r(1, 60), r(2, 50))},
			map[uint64]uint64{1: 100, 2: 50}, true},
		{"one entry short of it in one group", map[uint64]multiraft.Led{1: led(120, r(1, 120), r(2, 100)), 2: led(60, r(1, 60), r(2, 49))},
			map[uint64]uint64{1: 100, 2: 50}, false},
		{"far behind, catching up", map[uint64]multiraft.Led{1: led(9000, r(1, 9000), r(2, 3000))}, map[uint64]uint64{1: 8000}, false},
		{"a group new since the last look", map[uint64]multiraft.Led{1: led(10, r(1, 10), r(2, 0))}, map[uint64]uint64{}, true},
		{"no replica of it", map[uint64]multiraft.Led{1: led(5000, r(1, 5000), r(3, 10))}, map[uint64]uint64{1: 4000}, true},
		{"its learner behind (a wiped disk's new replica), its old voter not", map[uint64]multiraft.Led{
			1: learning(led(5000, r(1, 5000), r(2, 5000)), multiraft.Follower{ID: multiraft.ReplicaID(2, 2), Match: 0})},
			map[uint64]uint64{1: 4000}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := inStepWith(tc.led, tc.prev, 2); got != tc.want {
				t.Fatalf("in step: %v, want %v", got, tc.want)
			}
		})
	}
}

// A node that handed off its groups and is still draining may be given one
// back — the others do not know it is leaving, and hand a group to its
// preferred replica after leading it a while — and must hand it off again
// (shed), not lead it until it stops.
func TestLeavingNodeShedsWhatItRegains(t *testing.T) {
	c, ctx, tp, stop := withTopic(t, 3)
	defer stop()
	g := tp.Partitions[0].Group
	// The preferred replica: any other leaving node would give the group
	// to it after a while (watchPartitions), shedding or not.
	leaving := int(tp.Partitions[0].Replicas[0] - 1)
	for c.leader(ctx, g) != leaving {
		select {
		case <-ctx.Done():
			t.Fatalf("group %d never led by its preferred replica, node %d", g, leaving+1)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if left, err := c.nodes[leaving].HandOff(ctx); left != 0 || err != nil {
		t.Fatalf("HandOff: still leads %d groups (%v)", left, err)
	}
	taker := c.leader(ctx, g)
	if taker == leaving {
		t.Fatalf("node %d still leads group %d after HandOff", leaving+1, g)
	}
	st, err := c.nodes[taker].raft.Status(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[taker].raft.TransferLeader(ctx, g, uint64(leaving+1)); err != nil {
		t.Fatal(err)
	}
	// Two elections: the transfer to the leaving node, and its shedding.
	// Without shedding the leaving node keeps the group, one term on.
	for {
		now, err := c.nodes[taker].raft.Status(ctx, g)
		if err == nil && now.Term >= st.Term+2 && now.Leader != 0 && now.Leader != uint64(leaving+1) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %d: leader %d at term %d (term %d before the transfer back): the leaving node kept what it was given", g, now.Leader, now.Term, st.Term)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
