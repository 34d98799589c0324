package node

import (
	"slices"
	"testing"

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
	for _, tc := range []struct {
		name string
		led  map[uint64]multiraft.Led
		want bool
	}{
		{"nothing led", nil, true},
		{"caught up everywhere", map[uint64]multiraft.Led{1: led(100, r(1, 100), r(2, 100)), 2: led(50, r(1, 50), r(2, 49))}, true},
		{"within the slack", map[uint64]multiraft.Led{1: led(100, r(1, 100), r(2, 100-handBackSlack))}, true},
		{"behind in one group", map[uint64]multiraft.Led{1: led(100, r(1, 100), r(2, 100)), 2: led(5000, r(1, 5000), r(2, 1000))}, false},
		{"no replica of it", map[uint64]multiraft.Led{1: led(5000, r(1, 5000), r(3, 10))}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := inStepWith(tc.led, 2); got != tc.want {
				t.Fatalf("in step: %v, want %v", got, tc.want)
			}
		})
	}
}
