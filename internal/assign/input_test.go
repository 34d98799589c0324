package assign

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBalanceRejects(t *testing.T) {
	ok := map[string]int32{"t": 2}
	tests := []struct {
		name       string
		strategy   string
		members    []Member
		partitions map[string]int32
		want       error
	}{
		{"unknown strategy", "fair", []Member{sub("a", "t")}, ok, ErrUnknownStrategy},
		{"empty strategy", "", []Member{sub("a", "t")}, ok, ErrUnknownStrategy},
		{"duplicate member", Range, []Member{sub("a", "t"), sub("b", "t"), sub("a", "t")}, ok, ErrInvalidInput},
		{"empty member ID", Sticky, []Member{sub("", "t")}, ok, ErrInvalidInput},
		{"negative partition count", RoundRobin, []Member{sub("a", "t")}, map[string]int32{"t": -1}, ErrInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Balance(tt.strategy, tt.members, tt.partitions, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if p != nil {
				t.Errorf("plan = %v, want nil with an error", p)
			}
		})
	}
}

// TestBalanceLeavesInputsAlone: Balance neither sorts the caller's members
// or subscriptions nor edits prev, for any strategy.
func TestBalanceLeavesInputsAlone(t *testing.T) {
	for _, s := range Strategies() {
		t.Run(s, func(t *testing.T) {
			members := []Member{sub("b", "y", "x", "x"), sub("a", "x")}
			parts := map[string]int32{"x": 3, "y": 2}
			prev := Plan{"b": tp("x", 2, 0, "y", 1), "gone": tp("x", 1)}
			wantMembers := []Member{sub("b", "y", "x", "x"), sub("a", "x")}
			wantParts := map[string]int32{"x": 3, "y": 2}
			wantPrev := Plan{"b": tp("x", 2, 0, "y", 1), "gone": tp("x", 1)}
			if _, err := Balance(s, members, parts, prev); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(wantMembers, members); d != "" {
				t.Errorf("members changed (-before +after):\n%s", d)
			}
			if d := cmp.Diff(wantParts, parts); d != "" {
				t.Errorf("partitions changed (-before +after):\n%s", d)
			}
			if d := cmp.Diff(wantPrev, prev); d != "" {
				t.Errorf("prev changed (-before +after):\n%s", d)
			}
		})
	}
}

func TestEagerAndValid(t *testing.T) {
	for _, s := range Strategies() {
		if !Valid(s) {
			t.Errorf("Valid(%q) = false", s)
		}
		if got, want := Eager(s), s != CooperativeSticky; got != want {
			t.Errorf("Eager(%q) = %v, want %v", s, got, want)
		}
	}
	if Valid("cooperative") {
		t.Error(`Valid("cooperative") = true`)
	}
}

// TestCanonical: the guide's and Kafka's spellings of each strategy name
// it; anything else comes back as it was, for Valid to refuse.
func TestCanonical(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"range", Range}, {"Range", Range}, {"RANGE", Range},
		{"roundrobin", RoundRobin}, {"RoundRobin", RoundRobin}, {"round-robin", RoundRobin}, {"round_robin", RoundRobin},
		{"sticky", Sticky}, {"Sticky", Sticky},
		{"cooperative-sticky", CooperativeSticky}, {"Cooperative", CooperativeSticky},
		{"CooperativeSticky", CooperativeSticky}, {"cooperative sticky", CooperativeSticky},
		{"", ""}, {"uniform", "uniform"}, {"Fair", "Fair"}, {"range2", "range2"},
	} {
		if got := Canonical(tc.in); got != tc.want {
			t.Errorf("Canonical(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
