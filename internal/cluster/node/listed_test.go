package node

import "testing"

// TestListed: a node names to clients itself and the peers it hears from;
// a silent peer is left out while this node hears from a majority, and
// kept while it does not (it is then most likely the one cut off).
func TestListed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		id     uint64
		nodes  int
		silent []uint64
		want   bool
	}{
		{"itself", 1, 3, []uint64{2, 3}, true},
		{"a peer heard from", 2, 3, []uint64{3}, true},
		{"a silent peer, majority heard", 3, 3, []uint64{3}, false},
		{"a silent peer, cut off from both", 3, 3, []uint64{2, 3}, true},
		{"five nodes, two silent", 5, 5, []uint64{4, 5}, false},
		{"five nodes, three silent", 5, 5, []uint64{3, 4, 5}, true},
		{"nobody silent", 2, 3, nil, true},
	} {
		if got := listed(tc.id, 1, tc.nodes, tc.silent); got != tc.want {
			t.Errorf("%s: listed(%d, self 1, %d nodes, silent %v) = %v, want %v", tc.name, tc.id, tc.nodes, tc.silent, got, tc.want)
		}
	}
}
