package group

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/assign"
	"pgregory.net/rapid"
)

// stickyGroup drives a group of faithful dynamic members of one topic:
// each heartbeat reports exactly what the member was last told.
type stickyGroup struct {
	t     fataler
	g     *Group
	now   time.Time
	parts map[string]int32
	told  map[string]api.Assignment // by member ID: the last assignment received
	ids   int
}

// fataler is what stickyGroup needs of a *testing.T or *rapid.T.
type fataler interface {
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func newStickyGroup(t fataler, strategy string, partitions int32) *stickyGroup {
	return &stickyGroup{
		t: t, g: New("g", Config{DefaultAssignor: strategy}), now: epoch0,
		parts: map[string]int32{"orders": partitions}, told: map[string]api.Assignment{},
	}
}

func (s *stickyGroup) join() string {
	s.ids++
	id := fmt.Sprintf("m%02d", s.ids)
	res, err := s.g.Join(s.now, JoinParams{MemberID: id, Topics: []string{"orders"}}, s.parts)
	if err != nil {
		s.t.Fatalf("join %s: %v", id, err)
	}
	s.told[id] = res.Assigned
	return id
}

func (s *stickyGroup) leave(id string) {
	if err := s.g.Leave(s.now, id); err != nil {
		s.t.Fatalf("leave %s: %v", id, err)
	}
	delete(s.told, id)
}

func (s *stickyGroup) heartbeat(id string) {
	res, err := s.g.Heartbeat(s.now, id, s.g.members[id].gen, s.told[id], 0)
	if err != nil {
		s.t.Fatalf("heartbeat %s: %v", id, err)
	}
	s.told[id] = res.Assigned
}

func (s *stickyGroup) members() []string { return s.g.memberIDs() }

// settle heartbeats every member until the group is stable.
func (s *stickyGroup) settle() {
	for range 10 {
		if s.g.State() == StateStable {
			return
		}
		for _, id := range s.members() {
			s.heartbeat(id)
		}
	}
	s.t.Fatalf("not stable after 10 rounds")
}

// change applies a membership change and returns, per member present before
// and after it, the partitions it had (owned, or released for an eager
// barrier and not owned since) that its new target no longer holds, and
// the number of members after it.
func (s *stickyGroup) change(do func()) (lost map[string]int, had map[string]int) {
	before := s.g.held("", "")
	do()
	if err := s.g.invariants(); err != nil {
		s.t.Fatal(err)
	}
	lost, had = map[string]int{}, map[string]int{}
	for id, a := range before {
		m := s.g.members[id]
		if m == nil {
			continue
		}
		had[id] = len(a["orders"])
		for _, p := range a["orders"] {
			if !m.target.has(tp{"orders", p}) {
				lost[id]++
			}
		}
	}
	return lost, had
}

// leastLoss is the fewest partitions that members holding had (over M
// members, one of which may hold nothing) must give up so that each ends
// with ⌊P/M⌋ or ⌈P/M⌉: the larger quotas go to those that have the most.
func leastLoss(had map[string]int, members int, partitions int32) int {
	counts := make([]int, 0, members)
	for _, n := range had {
		counts = append(counts, n)
	}
	for len(counts) < members {
		counts = append(counts, 0)
	}
	slices.Sort(counts)
	slices.Reverse(counts)
	base, extra := int(partitions)/members, int(partitions)%members
	least := 0
	for i, n := range counts {
		quota := base
		if i < extra {
			quota++
		}
		least += max(0, n-quota)
	}
	return least
}

// TestStickyKeepsWhatMembersHave drives sticky and cooperative-sticky
// groups with joins and leaves between partial heartbeats (some members
// have not yet taken or released what earlier changes asked): after every
// change, no member that stays loses a partition it has unless balance
// requires it — it has more than ⌊P/M⌋ — and the members together lose
// no more than the fewest balance requires.
func TestStickyKeepsWhatMembersHave(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		strategy := rapid.SampledFrom([]string{assign.Sticky, assign.CooperativeSticky}).Draw(rt, "strategy")
		partitions := int32(rapid.IntRange(1, 12).Draw(rt, "partitions"))
		s := newStickyGroup(rt, strategy, partitions)
		s.join()
		for range rapid.IntRange(1, 40).Draw(rt, "steps") {
			ids := s.members()
			switch action := rapid.IntRange(0, 5).Draw(rt, "action"); {
			case action == 0 && len(ids) < 8, len(ids) == 0:
				lost, had := s.change(func() { s.join() })
				s.checkLoss(rt, lost, had)
			case action == 1 && len(ids) > 1:
				gone := rapid.SampledFrom(ids).Draw(rt, "leave")
				lost, had := s.change(func() { s.leave(gone) })
				s.checkLoss(rt, lost, had)
			default:
				s.heartbeat(rapid.SampledFrom(ids).Draw(rt, "heartbeat"))
			}
		}
		s.settle()
	})
}

func (s *stickyGroup) checkLoss(rt *rapid.T, lost, had map[string]int) {
	members := len(s.g.members)
	floor := int(s.parts["orders"]) / members
	total := 0
	for id, n := range lost {
		if n > max(0, had[id]-floor) {
			rt.Fatalf("%s had %d of %d partitions over %d members and lost %d: more than balance requires", id, had[id], s.parts["orders"], members, n)
		}
		total += n
	}
	if least := leastLoss(had, members, s.parts["orders"]); total > least {
		rt.Fatalf("members lost %d partitions (%v of %v), balance requires %d", total, lost, had, least)
	}
}

// TestRollingRestartMovesNothingOfMembersThatStay replaces each of three
// members over six partitions by a new one in turn (leave, then join), with
// no heartbeat between (the worst case) or one round between replacements:
// the members that stay lose nothing; each newcomer takes exactly what its
// predecessor had.
func TestRollingRestartMovesNothingOfMembersThatStay(t *testing.T) {
	for _, strategy := range []string{assign.Sticky, assign.CooperativeSticky} {
		for _, rounds := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/rounds=%d", strategy, rounds), func(t *testing.T) {
				s := newStickyGroup(t, strategy, 6)
				for range 3 {
					s.join()
				}
				s.settle()
				moved := 0
				for _, old := range s.members() {
					lost, _ := s.change(func() { s.leave(old) })
					for _, n := range lost {
						moved += n
					}
					lost, _ = s.change(func() { s.join() })
					for _, n := range lost {
						moved += n
					}
					for range rounds {
						for _, id := range s.members() {
							s.heartbeat(id)
						}
					}
				}
				s.settle()
				if moved != 0 {
					t.Errorf("rolling restart moved %d partitions of members that stayed, want 0", moved)
				}
				for _, id := range s.members() {
					if n := len(s.told[id]["orders"]); n != 2 {
						t.Errorf("%s ends with %d partitions, want 2", id, n)
					}
				}
			})
		}
	}
}
