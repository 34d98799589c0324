package assign

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// members returns members subscribing to topics, with the given IDs.
func members(topics []string, ids ...string) []Member {
	ms := make([]Member, len(ids))
	for i, id := range ids {
		ms[i] = Member{ID: id, Topics: topics}
	}
	return ms
}

// TestRangeSeedPictures checks the pictures of the consumer-groups page: one
// topic of six partitions while members join, crash and outnumber partitions.
func TestRangeSeedPictures(t *testing.T) {
	orders := []string{"orders"}
	six := map[string]int32{"orders": 6}
	o := func(ps ...int32) map[string][]int32 {
		if len(ps) == 0 {
			return map[string][]int32{}
		}
		return map[string][]int32{"orders": ps}
	}
	tests := []struct {
		name    string
		members []Member
		want    Plan
	}{
		{"one consumer", members(orders, "A"), Plan{"A": o(0, 1, 2, 3, 4, 5)}},
		{"A and B", members(orders, "A", "B"), Plan{"A": o(0, 1, 2), "B": o(3, 4, 5)}},
		{"C joins", members(orders, "C", "A", "B"), Plan{"A": o(0, 1), "B": o(2, 3), "C": o(4, 5)}},
		{"B crashes", members(orders, "C", "A"), Plan{"A": o(0, 1, 2), "C": o(3, 4, 5)}},
		{
			"eight consumers, two idle",
			members(orders, "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"),
			Plan{"c1": o(0), "c2": o(1), "c3": o(2), "c4": o(3), "c5": o(4), "c6": o(5), "c7": o(), "c8": o()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Balance(Range, tt.members, six, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("plan (-want +got):\n%s", d)
			}
		})
	}
}

// TestIdleMembers checks, for every strategy, that members beyond the
// partition count get an empty entry and the others one partition each.
func TestIdleMembers(t *testing.T) {
	for _, s := range Strategies() {
		t.Run(s, func(t *testing.T) {
			ms := make([]Member, 8)
			for i := range ms {
				ms[i] = Member{ID: fmt.Sprintf("c%d", i+1), Topics: []string{"orders"}}
			}
			got, err := Balance(s, ms, map[string]int32{"orders": 6}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var busy, idle int
			for _, m := range ms {
				a, ok := got[m.ID]
				if !ok {
					t.Fatalf("no entry for %s", m.ID)
				}
				switch n := len(a["orders"]); n {
				case 0:
					idle++
				case 1:
					busy++
				default:
					t.Errorf("%s got %d partitions", m.ID, n)
				}
			}
			if busy != 6 || idle != 2 {
				t.Errorf("busy %d idle %d, want 6 and 2", busy, idle)
			}
		})
	}
}
