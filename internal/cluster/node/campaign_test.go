package node

import "testing"

// Of a leaderless group's replicas the preferred one campaigns, or, while
// it is known down, the first one that is not: exactly one stands.
func TestStandIn(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas []uint64
		down     map[uint64]bool
		want     uint64 // the replica that stands; 0: none
	}{
		{"the preferred replica", []uint64{2, 3, 1}, nil, 2},
		{"the preferred one, even if others are down", []uint64{2, 3, 1}, map[uint64]bool{3: true}, 2},
		{"the next while it is down", []uint64{2, 3, 1}, map[uint64]bool{2: true}, 3},
		{"the first alive", []uint64{2, 3, 1}, map[uint64]bool{2: true, 3: true}, 1},
		{"a single replica", []uint64{1}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stand []uint64
			for _, self := range tc.replicas {
				if !tc.down[self] && standIn(tc.replicas, self, tc.down) {
					stand = append(stand, self)
				}
			}
			if len(stand) != 1 || stand[0] != tc.want {
				t.Fatalf("standing: %v, want %d alone", stand, tc.want)
			}
		})
	}
}
