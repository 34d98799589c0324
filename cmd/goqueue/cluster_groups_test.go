package main

import (
	"fmt"
	"slices"
	"testing"
)

// The coordinator of a group is the same whatever the order the nodes are
// listed in, none without nodes, spread evenly over the nodes, and when a
// node joins only groups that move to it move (rendezvous hashing), about
// 1/n of them; when it leaves only its own groups move.
func TestGroupCoordinatorPlacement(t *testing.T) {
	if got := groupCoordinator("g", nil); got != 0 {
		t.Fatalf("no nodes: coordinator %d", got)
	}
	for _, group := range []string{"orders", "billing", "x"} {
		want := groupCoordinator(group, []uint64{3, 1, 2})
		for _, nodes := range [][]uint64{{1, 2, 3}, {3, 2, 1}, {2, 3, 1}} {
			if got := groupCoordinator(group, nodes); got != want {
				t.Fatalf("%s over %v: %d, over 3,1,2: %d", group, nodes, got, want)
			}
		}
	}
	const groups = 30000
	three, four := []uint64{1, 2, 3}, []uint64{1, 2, 3, 4}
	count := map[uint64]int{}
	moved := 0
	for i := range groups {
		g := fmt.Sprintf("group-%d", i)
		before, after := groupCoordinator(g, three), groupCoordinator(g, four)
		if !slices.Contains(three, before) {
			t.Fatalf("%s: coordinator %d not a node", g, before)
		}
		count[before]++
		if before != after {
			moved++
			if after != 4 {
				t.Fatalf("%s moved from %d to %d when node 4 joined", g, before, after)
			}
		}
		// Node 2 leaving moves only node 2's groups.
		if without := groupCoordinator(g, []uint64{1, 3}); before != 2 && without != before {
			t.Fatalf("%s moved from %d to %d when node 2 left", g, before, without)
		}
	}
	for _, n := range three {
		if c := count[n]; c < groups/3*95/100 || c > groups/3*105/100 {
			t.Fatalf("node %d coordinates %d of %d groups: %v", n, c, groups, count)
		}
	}
	if moved < groups/4*90/100 || moved > groups/4*110/100 {
		t.Fatalf("node 4 joining moved %d of %d groups, want about a quarter", moved, groups)
	}
}

// Known values pin the hash: a change to it would split the groups of a
// cluster whose nodes run different builds.
func TestGroupCoordinatorIsStable(t *testing.T) {
	got := []uint64{}
	for _, g := range []string{"orders", "billing", "a", ""} {
		got = append(got, groupCoordinator(g, []uint64{1, 2, 3, 4, 5}))
	}
	want := []uint64{2, 5, 2, 1}
	if !slices.Equal(got, want) {
		t.Fatalf("coordinators %v, want %v", got, want)
	}
}
