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
