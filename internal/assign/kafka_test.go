package assign

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Cases from Kafka's RangeAssignorTest, RoundRobinAssignorTest and
// AbstractStickyAssignorTest, and the examples in franz-go's kgo balancer
// docs, restated as data.

func sub(id string, topics ...string) Member { return Member{ID: id, Topics: topics} }

func static(id, instance string, topics ...string) Member {
	return Member{ID: id, Topics: topics, InstanceID: instance}
}

// tp builds one member's assignment from topic, partitions... pairs:
// tp("t1", 0, 2, "t2", 1).
func tp(spec ...any) map[string][]int32 {
	out := make(map[string][]int32)
	var topic string
	for _, x := range spec {
		switch v := x.(type) {
		case string:
			topic = v
		case int:
			out[topic] = append(out[topic], int32(v))
		}
	}
	return out
}

func TestEagerTables(t *testing.T) {
	tests := []struct {
		name       string
		strategy   string
		members    []Member
		partitions map[string]int32
		want       Plan
	}{
		{"range one consumer no topic", Range, []Member{sub("c")}, nil, Plan{"c": tp()}},
		// Kafka's RangeAssignor and RoundRobinAssignor order static members
		// by instance ID ahead of dynamic members: a restarted static member
		// (new, larger ID) keeps its range when a dynamic member joins.
		{
			"range static members by instance ID first", Range,
			[]Member{static("m-z", "i1", "t"), static("m-a", "i2", "t"), sub("m-0", "t")},
			map[string]int32{"t": 6},
			Plan{"m-z": tp("t", 0, 1), "m-a": tp("t", 2, 3), "m-0": tp("t", 4, 5)},
		},
		{
			"roundrobin static members by instance ID first", RoundRobin,
			[]Member{static("m-z", "i1", "t"), static("m-a", "i2", "t"), sub("m-0", "t")},
			map[string]int32{"t": 3},
			Plan{"m-z": tp("t", 0), "m-a": tp("t", 1), "m-0": tp("t", 2)},
		},
		{"range nonexistent topic", Range, []Member{sub("c", "t")}, map[string]int32{"t": 0}, Plan{"c": tp()}},
		{"range one consumer one topic", Range, []Member{sub("c", "t")}, map[string]int32{"t": 3}, Plan{"c": tp("t", 0, 1, 2)}},
		{"range only subscribed topics", Range, []Member{sub("c", "t")}, map[string]int32{"t": 3, "other": 3}, Plan{"c": tp("t", 0, 1, 2)}},
		{"range one consumer multiple topics", Range, []Member{sub("c", "t1", "t2")}, map[string]int32{"t1": 1, "t2": 2}, Plan{"c": tp("t1", 0, "t2", 0, 1)}},
		{"range two consumers one partition", Range, []Member{sub("c1", "t"), sub("c2", "t")}, map[string]int32{"t": 1}, Plan{"c1": tp("t", 0), "c2": tp()}},
		{"range two consumers two partitions", Range, []Member{sub("c1", "t"), sub("c2", "t")}, map[string]int32{"t": 2}, Plan{"c1": tp("t", 0), "c2": tp("t", 1)}},
		{
			"range mixed topics", Range,
			[]Member{sub("c1", "t1"), sub("c2", "t1", "t2"), sub("c3", "t1")},
			map[string]int32{"t1": 3, "t2": 2},
			Plan{"c1": tp("t1", 0), "c2": tp("t1", 1, "t2", 0, 1), "c3": tp("t1", 2)},
		},
		{
			"range two consumers two topics six partitions", Range,
			[]Member{sub("c1", "t1", "t2"), sub("c2", "t1", "t2")},
			map[string]int32{"t1": 3, "t2": 3},
			Plan{"c1": tp("t1", 0, 1, "t2", 0, 1), "c2": tp("t1", 2, "t2", 2)},
		},
		{
			"roundrobin two consumers two topics six partitions", RoundRobin,
			[]Member{sub("c1", "t1", "t2"), sub("c2", "t1", "t2")},
			map[string]int32{"t1": 3, "t2": 3},
			Plan{"c1": tp("t1", 0, 2, "t2", 1), "c2": tp("t1", 1, "t2", 0, 2)},
		},
		{
			"roundrobin mixed topics", RoundRobin,
			[]Member{sub("c1", "t1"), sub("c2", "t1", "t2"), sub("c3", "t1")},
			map[string]int32{"t1": 3, "t2": 2},
			Plan{"c1": tp("t1", 0), "c2": tp("t1", 1, "t2", 0, 1), "c3": tp("t1", 2)},
		},
		{
			// Kafka's testPoorRoundRobinAssignmentScenario: roundrobin
			// leaves consumer3 idle (sticky balances it, below).
			"roundrobin poor scenario", RoundRobin, poorRoundRobinMembers, poorRoundRobinTopics,
			Plan{
				"consumer1": tp("topic1", 0, "topic3", 0, "topic5", 0),
				"consumer2": tp("topic1", 1, "topic3", 1, "topic5", 1),
				"consumer3": tp(),
				"consumer4": tp("topic2", 0, "topic4", 0),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Balance(tt.strategy, tt.members, tt.partitions, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("plan (-want +got):\n%s", d)
			}
		})
	}
}

var (
	poorRoundRobinTopics = map[string]int32{"topic1": 2, "topic2": 1, "topic3": 2, "topic4": 1, "topic5": 2}
	all5                 = []string{"topic1", "topic2", "topic3", "topic4", "topic5"}
	odd3                 = []string{"topic1", "topic3", "topic5"}

	poorRoundRobinMembers = []Member{
		{ID: "consumer1", Topics: all5}, {ID: "consumer2", Topics: odd3},
		{ID: "consumer3", Topics: odd3}, {ID: "consumer4", Topics: all5},
	}
)

// stickyStep is one rebalance of a sticky scenario; the previous step's plan
// (or prev, for the first) is its previous assignment.
type stickyStep struct {
	members    []Member
	partitions map[string]int32
	prev       Plan // only for the first step; nil means none
	want       Plan // exact plan, if the case pins one
	moves      int  // partitions taken from present owners, checked if there is a prev; -1 to skip
	keeps      bool // every member keeps all it held before that still exists
}

// TestStickyScenarios runs each scenario through both sticky strategies and
// checks every step: valid, exclusive, complete, optimally balanced, no
// cycle of moves between members, and the
// step's exact plan, move count and keeps expectations.
func TestStickyScenarios(t *testing.T) {
	t1t2 := []string{"t1", "t2"}
	scenarios := []struct {
		name  string
		steps []stickyStep
	}{
		{"one consumer no topic", []stickyStep{{members: []Member{sub("c")}, want: Plan{"c": tp()}}}},
		{"nonexistent topic", []stickyStep{{members: []Member{sub("c", "t")}, partitions: map[string]int32{"t": 0}, want: Plan{"c": tp()}}}},
		{"one consumer one topic", []stickyStep{{members: []Member{sub("c", "t")}, partitions: map[string]int32{"t": 3}, want: Plan{"c": tp("t", 0, 1, 2)}}}},
		{"only subscribed topics", []stickyStep{{
			members: []Member{sub("c", "t")}, partitions: map[string]int32{"t": 2},
			prev: Plan{"c": tp("t", 0, 1, "other", 0, 1)}, want: Plan{"c": tp("t", 0, 1)},
		}}},
		{"one consumer multiple topics", []stickyStep{{members: []Member{sub("c", "t1", "t2")}, partitions: map[string]int32{"t1": 1, "t2": 2}, want: Plan{"c": tp("t1", 0, "t2", 0, 1)}}}},
		{"two consumers one partition", []stickyStep{{members: []Member{sub("c1", "t"), sub("c2", "t")}, partitions: map[string]int32{"t": 1}, want: Plan{"c1": tp("t", 0), "c2": tp()}}}},
		{"two consumers two partitions", []stickyStep{{members: []Member{sub("c1", "t"), sub("c2", "t")}, partitions: map[string]int32{"t": 2}, want: Plan{"c1": tp("t", 0), "c2": tp("t", 1)}}}},
		{"mixed subscriptions", []stickyStep{{
			members:    []Member{sub("c1", "t1"), sub("c2", "t1", "t2"), sub("c3", "t1")},
			partitions: map[string]int32{"t1": 3, "t2": 2},
			want:       Plan{"c1": tp("t1", 0, 2), "c2": tp("t2", 0, 1), "c3": tp("t1", 1)},
		}}},
		{"two consumers two topics six partitions", []stickyStep{{
			members:    []Member{sub("c1", t1t2...), sub("c2", t1t2...)},
			partitions: map[string]int32{"t1": 3, "t2": 3},
			want:       Plan{"c1": tp("t1", 0, 2, "t2", 1), "c2": tp("t1", 1, "t2", 0, 2)},
		}}},
		{"owning min quota, expected max quota", []stickyStep{{
			members:    []Member{sub("c1", t1t2...), sub("c2", t1t2...)},
			partitions: map[string]int32{"t1": 2, "t2": 3},
			prev:       Plan{"c1": tp("t1", 0, "t2", 1), "c2": tp("t1", 1, "t2", 2)},
			want:       Plan{"c1": tp("t1", 0, "t2", 0, 1), "c2": tp("t1", 1, "t2", 2)},
		}}},
		{"more max-quota owners than max-quota slots", []stickyStep{{
			// Kafka moves t2/0 off c1; moving t2/1 off c2 is as good.
			members:    []Member{sub("c1", t1t2...), sub("c2", t1t2...), sub("c3", t1t2...)},
			partitions: map[string]int32{"t1": 2, "t2": 2},
			prev:       Plan{"c1": tp("t1", 0, "t2", 0), "c2": tp("t1", 1, "t2", 1)},
			moves:      1,
		}}},
		{"all under min quota", []stickyStep{{
			members:    []Member{sub("c1", t1t2...), sub("c2", t1t2...), sub("c3", t1t2...)},
			partitions: map[string]int32{"t1": 2, "t2": 3},
			prev:       Plan{"c1": tp("t1", 0), "c2": tp("t1", 1)},
			keeps:      true,
		}}},
		{"add and remove a consumer", []stickyStep{
			{members: []Member{sub("c1", "t")}, partitions: map[string]int32{"t": 3}, want: Plan{"c1": tp("t", 0, 1, 2)}},
			{members: []Member{sub("c1", "t"), sub("c2", "t")}, partitions: map[string]int32{"t": 3}, want: Plan{"c1": tp("t", 0, 1), "c2": tp("t", 2)}, moves: 1},
			{members: []Member{sub("c2", "t")}, partitions: map[string]int32{"t": 3}, want: Plan{"c2": tp("t", 0, 1, 2)}, keeps: true},
		}},
		{"add and remove two consumers, two topics", []stickyStep{
			{
				members: []Member{sub("c1", t1t2...), sub("c2", t1t2...)}, partitions: map[string]int32{"t1": 3, "t2": 4},
				want: Plan{"c1": tp("t1", 0, 2, "t2", 1, 3), "c2": tp("t1", 1, "t2", 0, 2)},
			},
			{members: []Member{sub("c1", t1t2...), sub("c2", t1t2...), sub("c3", t1t2...), sub("c4", t1t2...)}, partitions: map[string]int32{"t1": 3, "t2": 4}, moves: 3},
			{members: []Member{sub("c3", t1t2...), sub("c4", t1t2...)}, partitions: map[string]int32{"t1": 3, "t2": 4}, keeps: true},
		}},
		{"poor roundrobin scenario", []stickyStep{{members: poorRoundRobinMembers, partitions: poorRoundRobinTopics}}},
		{"add and remove a topic", []stickyStep{
			{members: []Member{sub("c1", "t1"), sub("c2", "t1")}, partitions: map[string]int32{"t1": 3}},
			{members: []Member{sub("c1", t1t2...), sub("c2", t1t2...)}, partitions: map[string]int32{"t1": 3, "t2": 3}, keeps: true, moves: 0},
			{members: []Member{sub("c1", "t2"), sub("c2", "t2")}, partitions: map[string]int32{"t2": 3}, keeps: true, moves: 0},
		}},
		{"one consumer leaves, nested subscriptions", nestedLeave()},
		{"same subscriptions, one leaves", sameSubscriptionsLeave()},
		{"one consumer added", []stickyStep{
			{members: numbered(9, "topic"), partitions: map[string]int32{"topic": 20}},
			{members: numbered(10, "topic"), partitions: map[string]int32{"topic": 20}, moves: 2},
		}},
		{"conflicting previous assignments", []stickyStep{{
			members:    []Member{sub("c1", "t"), sub("c2", "t")},
			partitions: map[string]int32{"t": 2},
			prev:       Plan{"c1": tp("t", 0, 1), "c2": tp("t", 0, 1)},
			want:       Plan{"c1": tp("t", 0), "c2": tp("t", 1)},
			moves:      -1, // every claim counts; one of each pair had to lose
		}}},
		{"no trading under mixed subscriptions", []stickyStep{{
			// Found by search: balancing by loads alone moved t3/15 from
			// c1 to c4 and t3/0 from c4 to c1.
			members:    []Member{sub("c1", "t2", "t3"), sub("c2", "t1"), sub("c3", "t1", "t2"), sub("c4", "t3"), sub("c5")},
			partitions: map[string]int32{"t1": 11, "t2": 29, "t3": 22},
			prev: Plan{
				"c1": tp("t2", 18, 27, "t3", 3, 4, 11, 12, 15),
				"c3": tp("t1", 1, 7, 10, "t2", 0, 4, 13, 17),
				"c4": tp("t3", 0, 14, 19),
			},
			moves: -1,
		}}},
		{"deleted topic", []stickyStep{
			{members: []Member{sub("c1", "t1", "t2"), sub("c2", "t1", "t2")}, partitions: map[string]int32{"t1": 1, "t2": 3}},
			{members: []Member{sub("c1", "t1", "t2"), sub("c2", "t1", "t2")}, partitions: map[string]int32{"t1": 1}},
		}},
	}
	for _, strategy := range []string{Sticky, CooperativeSticky} {
		for _, sc := range scenarios {
			t.Run(strategy+"/"+sc.name, func(t *testing.T) {
				prev := sc.steps[0].prev
				for i, st := range sc.steps {
					got, err := Balance(strategy, st.members, st.partitions, prev)
					if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					for _, bad := range []string{
						checkValid(st.members, st.partitions, got),
						checkExclusiveComplete(st.members, st.partitions, got),
						checkOptimal(st.members, st.partitions, got),
						checkMovesAcyclic(prev, got, st.members),
					} {
						if bad != "" {
							t.Fatalf("step %d: %s", i, bad)
						}
					}
					if st.want != nil {
						if d := cmp.Diff(st.want, got); d != "" {
							t.Fatalf("step %d: plan (-want +got):\n%s", i, d)
						}
					}
					if hasPrev := i > 0 || st.prev != nil; hasPrev && st.moves >= 0 {
						if n := moved(prev, got, st.members); n != st.moves {
							t.Errorf("step %d: moved %d partitions, want %d", i, n, st.moves)
						}
					}
					if st.keeps {
						if n := moved(prev, got, st.members); n != 0 {
							t.Errorf("step %d: %d partitions left present owners, want none", i, n)
						}
					}
					prev = got
				}
			})
		}
	}
}

// numbered returns members consumer01..consumerNN subscribing to topics.
func numbered(n int, topics ...string) []Member {
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{ID: fmt.Sprintf("consumer%02d", i+1), Topics: topics}
	}
	return ms
}

// nestedLeave is Kafka's testReassignmentAfterOneConsumerLeaves: topic i has
// i partitions, consumer i subscribes to topics 1..i; consumer10 leaves.
func nestedLeave() []stickyStep {
	parts := make(map[string]int32)
	var ms []Member
	for i := 1; i < 20; i++ {
		parts[fmt.Sprintf("topic%02d", i)] = int32(i)
		var topics []string
		for j := 1; j <= i; j++ {
			topics = append(topics, fmt.Sprintf("topic%02d", j))
		}
		ms = append(ms, Member{ID: fmt.Sprintf("consumer%02d", i), Topics: topics})
	}
	without := append(append([]Member(nil), ms[:9]...), ms[10:]...)
	return []stickyStep{{members: ms, partitions: parts, moves: -1}, {members: without, partitions: parts, moves: -1}}
}

// sameSubscriptionsLeave is Kafka's testSameSubscriptions: topic i has i
// partitions (1..14), eight consumers subscribe to all; consumer05 leaves.
// 105 partitions: 8 × 13 + 1 before, 7 × 15 after, so the seven who stay
// take consumer05's 13 and none of theirs moves.
func sameSubscriptionsLeave() []stickyStep {
	parts := make(map[string]int32)
	var topics []string
	for i := 1; i < 15; i++ {
		name := fmt.Sprintf("topic%02d", i)
		parts[name] = int32(i)
		topics = append(topics, name)
	}
	ms := numbered(8, topics...)
	without := append(append([]Member(nil), ms[:4]...), ms[5:]...)
	return []stickyStep{{members: ms, partitions: parts}, {members: without, partitions: parts, keeps: true}}
}

// checkMovesAcyclic: the moves — partitions of before whose owner is
// present and that after gives to another member — form no cycle between
// members (A gives to B, B to C, …, back to A). Such a cycle could have
// stayed put with every load unchanged. It implies Kafka's isSticky check
// that no two members trade partitions of a topic. Partitions that before
// gives to two present members, or to a member no longer subscribed to the
// topic, are not counted: those claims had to lose.
func checkMovesAcyclic(before, after Plan, members []Member) string {
	present := make(map[string]bool)
	subscribed := make(map[[2]string]bool)
	for _, m := range members {
		present[m.ID] = true
		for _, t := range m.Topics {
			subscribed[[2]string{m.ID, t}] = true
		}
	}
	claims := make(map[string]map[int32]int)
	for id, a := range before {
		for topic, parts := range a {
			if !present[id] {
				continue
			}
			if claims[topic] == nil {
				claims[topic] = make(map[int32]int)
			}
			for _, x := range parts {
				claims[topic][x]++
			}
		}
	}
	afterOwn, _ := owners(after)
	edges := make(map[string]map[string]string) // from → to → one moved partition
	for from, a := range before {
		if !present[from] {
			continue
		}
		for topic, parts := range a {
			for _, x := range parts {
				if to, ok := afterOwn[topic][x]; ok && to != from && claims[topic][x] == 1 && subscribed[[2]string{from, topic}] {
					if edges[from] == nil {
						edges[from] = make(map[string]string)
					}
					edges[from][to] = fmt.Sprintf("%s/%d", topic, x)
				}
			}
		}
	}
	state := make(map[string]int) // 1 on path, 2 done
	var path []string
	var visit func(v string) string
	visit = func(v string) string {
		state[v] = 1
		path = append(path, v)
		for w, part := range edges[v] {
			switch state[w] {
			case 1:
				return fmt.Sprintf("moves form a cycle: %v → %s (last via %s)", path[slices.Index(path, w):], w, part)
			case 0:
				if bad := visit(w); bad != "" {
					return bad
				}
			}
		}
		path = path[:len(path)-1]
		state[v] = 2
		return ""
	}
	for v := range edges {
		if state[v] == 0 {
			if bad := visit(v); bad != "" {
				return bad
			}
		}
	}
	return ""
}
