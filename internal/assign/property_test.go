package assign

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// group is a generated consumer group: members, topic sizes and a prev plan.
type group struct {
	members    []Member
	partitions map[string]int32
	topics     []string // every topic name in play, including ones absent from partitions
}

// genGroup draws up to maxMembers members over up to six topics of up to
// maxParts partitions each. With uniform, every member subscribes to every
// topic; otherwise each member draws its own subset. Some topics may have no
// partitions (absent), some members subscribe to a topic that does not exist.
func genGroup(t *rapid.T, uniform bool, maxMembers, maxParts int) group {
	g := group{partitions: make(map[string]int32)}
	nt := rapid.IntRange(1, 6).Draw(t, "topics")
	for i := range nt {
		name := fmt.Sprintf("topic-%c", 'a'+i)
		g.topics = append(g.topics, name)
		if n := rapid.IntRange(0, maxParts).Draw(t, "partitions"); n > 0 || rapid.Bool().Draw(t, "zero-listed") {
			g.partitions[name] = int32(n)
		}
	}
	nm := rapid.IntRange(0, maxMembers).Draw(t, "members")
	// IDs are a shuffled numbering, so creation order is not ID order.
	ids := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "id-seed"), 0)).Perm(nm)
	for i := range nm {
		m := Member{ID: fmt.Sprintf("member-%d", ids[i])}
		if uniform {
			m.Topics = slices.Clone(g.topics)
		} else {
			mask := rapid.IntRange(0, 1<<nt-1).Draw(t, "subscription")
			for j, name := range g.topics {
				if mask&(1<<j) != 0 {
					m.Topics = append(m.Topics, name)
				}
			}
			if rapid.IntRange(0, 9).Draw(t, "ghost") == 0 {
				m.Topics = append(m.Topics, "ghost") // never exists
			}
		}
		g.members = append(g.members, m)
	}
	return g
}

// randomPrev builds a plan in which each partition (also some that no
// longer exist) belongs to one random member of owners plus departed ones,
// or to nobody. It is exclusive, but neither valid nor balanced.
func randomPrev(rng *rand.Rand, g group, owners []Member) Plan {
	prev := make(Plan)
	ids := []string{"departed-1", "departed-2"}
	for _, m := range owners {
		ids = append(ids, m.ID)
	}
	for _, topic := range append(slices.Clone(g.topics), "deleted-topic") {
		for x := range g.partitions[topic] + 3 {
			if rng.IntN(4) == 0 {
				continue
			}
			id := ids[rng.IntN(len(ids))]
			if prev[id] == nil {
				prev[id] = make(map[string][]int32)
			}
			prev[id][topic] = append(prev[id][topic], x)
		}
	}
	return prev
}

// shuffled returns a copy of g's members and their topics in another order,
// and a fresh copy of the partitions map.
func shuffled(rng *rand.Rand, g group) ([]Member, map[string]int32) {
	ms := make([]Member, len(g.members))
	for i, m := range g.members {
		ms[i] = Member{ID: m.ID, Topics: slices.Clone(m.Topics)}
		rng.Shuffle(len(ms[i].Topics), func(a, b int) { ms[i].Topics[a], ms[i].Topics[b] = ms[i].Topics[b], ms[i].Topics[a] })
	}
	rng.Shuffle(len(ms), func(a, b int) { ms[a], ms[b] = ms[b], ms[a] })
	parts := make(map[string]int32, len(g.partitions))
	for k, v := range g.partitions {
		parts[k] = v
	}
	return ms, parts
}

func mustBalance(t *rapid.T, strategy string, members []Member, partitions map[string]int32, prev Plan) Plan {
	p, err := Balance(strategy, members, partitions, prev)
	if err != nil {
		t.Fatalf("%s: %v", strategy, err)
	}
	return p
}

// TestPropertiesAllStrategies: for every strategy, on random groups with
// mixed or equal subscriptions and a random prev, the plan is valid,
// exclusive, complete, balanced as the strategy promises, and identical when
// members, their topics and the partitions map come in another order.
func TestPropertiesAllStrategies(t *testing.T) {
	for _, strategy := range Strategies() {
		t.Run(strategy, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				uniform := rapid.Bool().Draw(t, "uniform")
				g := genGroup(t, uniform, 300, 500)
				rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 1))
				prev := randomPrev(rng, g, g.members)

				p := mustBalance(t, strategy, g.members, g.partitions, prev)
				for _, bad := range []string{
					checkValid(g.members, g.partitions, p),
					checkExclusiveComplete(g.members, g.partitions, p),
				} {
					if bad != "" {
						t.Fatal(bad)
					}
				}
				var bad string
				switch strategy {
				case Range:
					bad = checkRange(g.members, g.partitions, p)
				case RoundRobin:
					if uniform {
						bad = checkSpread(p)
					}
				case Sticky, CooperativeSticky:
					bad = checkOptimal(g.members, g.partitions, p)
					if bad == "" && uniform {
						bad = checkSpread(p)
					}
					if bad == "" {
						bad = checkMovesAcyclic(prev, p, g.members)
					}
				}
				if bad != "" {
					t.Fatalf("balance: %s", bad)
				}

				ms, parts := shuffled(rng, g)
				if d := cmp.Diff(p, mustBalance(t, strategy, ms, parts, prev)); d != "" {
					t.Fatalf("reordered input changed the plan (-first +reordered):\n%s", d)
				}
			})
		})
	}
}

// moved counts the partitions of before whose owner is among members and
// that after gives to someone else.
func moved(before, after Plan, members []Member) int {
	present := make(map[string]bool, len(members))
	for _, m := range members {
		present[m.ID] = true
	}
	afterOwn, _ := owners(after)
	n := 0
	for id, a := range before {
		if !present[id] {
			continue
		}
		for topic, parts := range a {
			for _, x := range parts {
				if o, ok := afterOwn[topic][x]; ok && o != id {
					n++
				}
			}
		}
	}
	return n
}

// keptCounts returns, per member of g, how many partitions of prev it holds
// that still exist (all members subscribe to all topics).
func keptCounts(g group, prev Plan) []int {
	kept := make([]int, len(g.members))
	for i, m := range g.members {
		for topic, parts := range prev[m.ID] {
			for _, x := range parts {
				if x >= 0 && x < g.partitions[topic] {
					kept[i]++
				}
			}
		}
	}
	return kept
}

// TestStickyMinimalMoves: with equal subscriptions, whatever the previous
// plan — one balanced for another membership or partition count, or an
// arbitrary one — the sticky strategies move exactly as many partitions away
// from present owners as the best quotas require, and no more.
func TestStickyMinimalMoves(t *testing.T) {
	for _, strategy := range []string{Sticky, CooperativeSticky} {
		t.Run(strategy, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				g := genGroup(t, true, 300, 500)
				rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 2))
				var prev Plan
				switch change := rapid.IntRange(0, 3).Draw(t, "change"); change {
				case 0: // arbitrary prev
					prev = randomPrev(rng, g, g.members)
				case 1, 2, 3: // balanced prev for a changed group
					before := group{partitions: make(map[string]int32), topics: g.topics}
					for k, v := range g.partitions {
						before.partitions[k] = v
					}
					before.members = slices.Clone(g.members)
					if change == 1 { // members joined since: drop some
						rng.Shuffle(len(before.members), func(a, b int) {
							before.members[a], before.members[b] = before.members[b], before.members[a]
						})
						before.members = before.members[:rng.IntN(len(before.members)+1)]
					}
					if change == 2 { // members left since: add some
						for i := range rng.IntN(20) {
							before.members = append(before.members, Member{ID: fmt.Sprintf("gone-%d", i), Topics: g.topics})
						}
					}
					if change == 3 { // partitions were added since: shrink
						for k, v := range before.partitions {
							before.partitions[k] = v - rng.Int32N(v+1)
						}
					}
					prev = mustBalance(t, strategy, before.members, before.partitions, randomPrev(rng, before, before.members))
				}
				p := mustBalance(t, strategy, g.members, g.partitions, prev)
				if bad := checkSpread(p); bad != "" {
					t.Fatal(bad)
				}
				total := 0
				for _, topic := range g.topics {
					total += int(g.partitions[topic])
				}
				if len(g.members) == 0 {
					total = 0
				}
				want := minimalMoves(keptCounts(g, prev), total)
				if got := moved(prev, p, g.members); got != want {
					t.Fatalf("moved %d partitions, the minimum is %d", got, want)
				}
			})
		})
	}
}

// TestStickyStable: re-balancing an unchanged group with its own plan moves
// nothing, for any subscriptions, and both sticky strategies agree on the
// target.
func TestStickyStable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g := genGroup(t, rapid.Bool().Draw(t, "uniform"), 300, 500)
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 3))
		prev := randomPrev(rng, g, g.members)
		p := mustBalance(t, Sticky, g.members, g.partitions, prev)
		if d := cmp.Diff(p, mustBalance(t, CooperativeSticky, g.members, g.partitions, prev)); d != "" {
			t.Fatalf("sticky and cooperative-sticky differ (-sticky +cooperative):\n%s", d)
		}
		if d := cmp.Diff(p, mustBalance(t, Sticky, g.members, g.partitions, p)); d != "" {
			t.Fatalf("re-balance moved partitions (-first +second):\n%s", d)
		}
	})
}
