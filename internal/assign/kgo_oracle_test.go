package assign

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"
)

// kgoStickyLoads runs franz-go's StickyBalancer (documented as optimally
// balanced) on the same group and prev, and returns its sorted loads.
func kgoStickyLoads(t *rapid.T, members []Member, partitions map[string]int32, prev Plan) []int {
	joined := make([]kmsg.JoinGroupResponseMember, len(members))
	for i, m := range members {
		sm := kmsg.NewStickyMemberMetadata()
		sm.Generation = 1
		for topic, parts := range prev[m.ID] {
			a := kmsg.NewStickyMemberMetadataCurrentAssignment()
			a.Topic, a.Partitions = topic, parts
			sm.CurrentAssignment = append(sm.CurrentAssignment, a)
		}
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = m.Topics
		meta.UserData = sm.AppendTo(nil)
		joined[i] = kmsg.NewJoinGroupResponseMember()
		joined[i].MemberID = m.ID
		joined[i].ProtocolMetadata = meta.AppendTo(nil)
	}
	mb, _, err := kgo.StickyBalancer().MemberBalancer(joined)
	if err != nil {
		t.Fatal(err)
	}
	res, err := mb.(kgo.GroupMemberBalancerOrError).BalanceOrError(partitions)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, a := range res.(*kgo.BalancePlan).AsMemberIDMap() {
		n := 0
		for _, parts := range a {
			n += len(parts)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// TestStickyLoadsMatchKgo: an optimal plan's sorted loads are unique (it
// minimises every Lp norm of the loads at once, so all power sums agree), so
// ours must equal those of franz-go's sticky balancer, an independent
// implementation that claims optimality, for any subscriptions and prev.
func TestStickyLoadsMatchKgo(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g := genGroup(t, false, 300, 500)
		if len(g.members) == 0 {
			return
		}
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 4))
		var prev Plan
		if rapid.Bool().Draw(t, "with-prev") {
			prev = randomPrev(rng, g, g.members)
		}
		p := mustBalance(t, Sticky, g.members, g.partitions, prev)
		if d := cmp.Diff(kgoStickyLoads(t, g.members, g.partitions, prev), sortedLoads(p)); d != "" {
			t.Fatalf("sorted loads (-kgo +ours):\n%s", d)
		}
	})
}
