package delivery

import (
	"slices"
	"testing"
	"time"
)

func TestPollFreshInOffsetOrder(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 5})
	owned := []TP{orders0}
	d := g.Poll(nil, t0, "a", owned, 3, end)
	wantOffsets(t, d, 0, 1, 2)
	if !slices.Equal(countsOf(d), []int{1, 1, 1}) {
		t.Fatalf("counts %v, want all 1", countsOf(d))
	}
	wantOffsets(t, g.Poll(nil, t0, "a", owned, 10, end), 3, 4)
	wantOffsets(t, g.Poll(nil, t0, "a", owned, 10, end))
	if got := g.InFlight("a"); got != 5 {
		t.Fatalf("InFlight(a) = %d, want 5", got)
	}
}

func TestPollFairness(t *testing.T) {
	tests := []struct {
		name  string
		hwm   map[TP]int64
		polls []int     // limits of successive polls
		want  [][]int64 // partitions of each delivery, as an index in owned
	}{
		{
			name:  "equal shares",
			hwm:   map[TP]int64{orders0: 10, orders1: 10, orders2: 10},
			polls: []int{6},
			want:  [][]int64{{0, 0, 1, 1, 2, 2}},
		},
		{
			name:  "first partition rotates",
			hwm:   map[TP]int64{orders0: 10, orders1: 10, orders2: 10},
			polls: []int{1, 1, 1, 1},
			want:  [][]int64{{0}, {1}, {2}, {0}},
		},
		{
			name:  "leftover filled by the busy partition",
			hwm:   map[TP]int64{orders0: 1, orders1: 10, orders2: 0},
			polls: []int{6},
			want:  [][]int64{{0, 1, 1, 1, 1, 1}},
		},
		{
			name:  "remainder after shares",
			hwm:   map[TP]int64{orders0: 10, orders1: 10, orders2: 10},
			polls: []int{4},
			want:  [][]int64{{0, 1, 2, 0}},
		},
	}
	owned := []TP{orders0, orders1, orders2}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGroup(Config{})
			for i, limit := range tt.polls {
				var got []int64
				for _, d := range g.Poll(nil, t0, "a", owned, limit, ends(tt.hwm)) {
					got = append(got, int64(slices.Index(owned, d.TP)))
				}
				if !slices.Equal(got, tt.want[i]) {
					t.Fatalf("poll %d: partitions %v, want %v", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestPollCapPerMember(t *testing.T) {
	g := NewGroup(Config{MaxInFlightPerMember: 3})
	end := ends(map[TP]int64{orders0: 10})
	owned := []TP{orders0}
	wantOffsets(t, g.Poll(nil, t0, "a", owned, 10, end), 0, 1, 2)
	wantOffsets(t, g.Poll(nil, t0, "a", owned, 10, end))
	// The cap is per member: another member still polls.
	wantOffsets(t, g.Poll(nil, t0, "b", owned, 1, end), 3)
	mustAck(t, g, "a", orders0, 1)
	wantOffsets(t, g.Poll(nil, t0, "a", owned, 10, end), 4)
	// A nack frees a slot too.
	mustNack(t, g, t0, "a", orders0, 0, NackOptions{})
	wantOffsets(t, g.Poll(nil, t0, "a", owned, 10, end), 5)
}

func TestPollNothing(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 10})
	wantOffsets(t, g.Poll(nil, t0, "a", nil, 10, end))
	wantOffsets(t, g.Poll(nil, t0, "a", []TP{orders0}, 0, end))
	if g.Has(orders0) {
		t.Fatal("a poll without room created partition state")
	}
}

func TestRedeliveriesBeforeFresh(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 10})
	owned := []TP{orders0}
	wantOffsets(t, g.Poll(nil, t0, "a", owned, 4, end), 0, 1, 2, 3)
	mustNack(t, g, t0, "a", orders0, 2, NackOptions{})            // due at +100ms
	mustNack(t, g, t0, "a", orders0, 1, NackOptions{Delay: 50e6}) // due at +50ms
	// Not due yet: fresh messages only.
	wantOffsets(t, g.Poll(nil, at(10e6), "a", owned, 1, end), 4)
	d := g.Poll(nil, at(1e9), "a", owned, 3, end)
	wantOffsets(t, d, 1, 2, 5)
	if !slices.Equal(countsOf(d), []int{2, 2, 1}) {
		t.Fatalf("counts %v, want [2 2 1]", countsOf(d))
	}
	if got := g.Stats(orders0).Redelivered; got != 2 {
		t.Fatalf("Redelivered = %d, want 2", got)
	}
}

func TestGroupsAreIndependent(t *testing.T) {
	billing, analytics := NewGroup(Config{}), NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 3})
	owned := []TP{orders0}
	wantOffsets(t, billing.Poll(nil, t0, "a", owned, 10, end), 0, 1, 2)
	mustAck(t, billing, "a", orders0, 0, 1, 2)
	wantOffsets(t, analytics.Poll(nil, t0, "a", owned, 10, end), 0, 1, 2)
	wantCommitted(t, billing, orders0, 3)
	wantCommitted(t, analytics, orders0, 0)
}

// TestPollRotationPerMember: members polling in turn each rotate through
// their own partitions.
func TestPollRotationPerMember(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 10, orders1: 10, orders2: 10, {"orders", 3}: 10})
	a, b := []TP{orders0, orders1}, []TP{orders2, {"orders", 3}}
	var gotA, gotB []int32
	for range 4 {
		gotA = append(gotA, g.Poll(nil, t0, "a", a, 1, end)[0].TP.Partition)
		gotB = append(gotB, g.Poll(nil, t0, "b", b, 1, end)[0].TP.Partition)
	}
	if !slices.Equal(gotA, []int32{0, 1, 0, 1}) || !slices.Equal(gotB, []int32{2, 3, 2, 3}) {
		t.Fatalf("partitions served: a %v, b %v", gotA, gotB)
	}
}

// TestPollFittingLeavesRefusedInPlace: a message the gate refuses is not
// in flight and is the next handed out, a due redelivery as a new one; a
// refusal ends that partition's take only.
func TestPollFittingLeavesRefusedInPlace(t *testing.T) {
	g := NewGroup(Config{})
	end := ends(map[TP]int64{orders0: 5, orders1: 5})
	owned := []TP{orders0, orders1}
	refuse := func(tp TP, from int64) func(TP, int64) bool {
		return func(p TP, off int64) bool { return p != tp || off < from }
	}
	got := g.PollFitting(nil, t0, "a", owned, 10, end, refuse(orders0, 2))
	if want := []Delivery{{orders0, 0, 1}, {orders0, 1, 1}, {orders1, 0, 1}, {orders1, 1, 1}, {orders1, 2, 1}, {orders1, 3, 1}, {orders1, 4, 1}}; !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("first poll %v, want %v", got, want)
	}
	if n := g.InFlight("a"); n != 7 {
		t.Fatalf("in flight %d, want 7: the refused messages stay unsent", n)
	}
	wantOffsets(t, g.Poll(nil, t0, "a", []TP{orders0}, 10, end), 2, 3, 4)

	// A due redelivery refused stays waiting, its count unspent.
	mustNack(t, g, t0, "a", orders0, 0, NackOptions{})
	if got := g.PollFitting(nil, t0.Add(time.Hour), "a", []TP{orders0}, 10, end, refuse(orders0, 0)); len(got) != 0 {
		t.Fatalf("refused redelivery handed out: %v", got)
	}
	got = g.Poll(nil, t0.Add(time.Hour), "a", []TP{orders0}, 10, end)
	if want := []Delivery{{orders0, 0, 2}}; !slices.Equal(got, want) {
		t.Fatalf("redelivery after the refusal %v, want %v", got, want)
	}
}

func sorted(ds []Delivery) []Delivery {
	out := slices.Clone(ds)
	slices.SortFunc(out, func(a, b Delivery) int {
		if a.TP != b.TP {
			return int(a.TP.Partition - b.TP.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return out
}
