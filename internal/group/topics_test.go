package group

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Topics is the sorted union of the members' subscriptions, in time
// linear in them: it searched the union built so far for each topic, and
// a KIP-848 member may subscribe to any number of topics not created yet
// (one heartbeat naming 1,000,000 kept a core busy for hours, holding the
// group's lock).
func TestTopicsOfLargeSubscriptions(t *testing.T) {
	const n = 50_000
	names := func(from, to int) []string {
		out := make([]string, 0, to-from)
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprintf("not-created-yet-%06d", i))
		}
		return out
	}
	g := New("g", Config{})
	start := time.Now()
	for _, m := range []struct {
		id     string
		topics []string
	}{
		{"a", names(0, n)},
		{"b", names(n/2, n+n/2)},
	} {
		if _, err := g.Join(epoch0, JoinParams{MemberID: m.id, Topics: m.topics}, nil); err != nil {
			t.Fatal(err)
		}
	}
	got := g.Topics()
	took := time.Since(start)
	t.Logf("two joins and Topics of %d topics: %v", n+n/2, took)
	if took > 2*time.Second {
		t.Errorf("two joins and Topics of %d topics took %v", n+n/2, took)
	}
	if want := names(0, n+n/2); !slices.Equal(got, want) {
		t.Fatalf("Topics: %d topics, want the %d of the union", len(got), len(want))
	}
}
