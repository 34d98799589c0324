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

// behaviour is how a simulated member treats the group.
type behaviour int

const (
	faithful behaviour = iota // reports exactly what it was told to own
	stubborn                  // never releases what it is asked to revoke
	silent                    // never heartbeats after its join
)

// simMember is a member as the simulation sees it from outside the group.
type simMember struct {
	instance string
	topics   []string
	how      behaviour
	gen      int64
	held     parts // the assignment last received
	// owned is the simulation's own account of ownership: everything a
	// response told the member it may own, minus what a later heartbeat
	// omitted. The group must never let two members' accounts overlap.
	owned parts
}

type sim struct {
	t        *rapid.T
	g        *Group
	now      time.Time
	strategy string
	topics   map[string]int32
	members  map[string]*simMember
}

// TestSimulation drives a group with random joins, leaves, heartbeats (on
// time, late, never; releasing or not), clock advances and partition
// changes. After every step: no partition is owned by two members, every
// assigned partition exists and is subscribed, the group agrees with the
// simulation about owners, and (cooperative-sticky) no partition is revoked
// from a member whose target still holds it. At the end, with faithful
// members and no more changes, the group is stable within three rounds of
// heartbeats and every member holds exactly its target.
func TestSimulation(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := &sim{
			t:        rt,
			now:      epoch0,
			strategy: rapid.SampledFrom(assign.Strategies()).Draw(rt, "strategy"),
			topics:   map[string]int32{"a": int32(rapid.IntRange(0, 6).Draw(rt, "a")), "b": int32(rapid.IntRange(1, 4).Draw(rt, "b"))},
			members:  map[string]*simMember{},
		}
		s.g = New("g", Config{DefaultAssignor: s.strategy, HeartbeatInterval: time.Second})
		steps := rapid.IntRange(1, 80).Draw(rt, "steps")
		for range steps {
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0, 1:
				s.join()
			case 2, 3, 4, 5:
				s.heartbeat(s.pick(false))
			case 6:
				s.leave()
			case 7:
				s.advance(time.Duration(rapid.IntRange(100, 4000).Draw(rt, "ms")) * time.Millisecond)
			case 8:
				s.setPartitions()
			case 9:
				s.resubscribe()
			}
			s.check()
		}
		s.converge()
	})
}

var simIDs = []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"}

func (s *sim) drawTopics(label string) []string {
	return rapid.SampledFrom([][]string{{"a"}, {"b"}, {"a", "b"}}).Draw(s.t, label)
}

func (s *sim) join() {
	id := rapid.SampledFrom(simIDs).Draw(s.t, "join")
	if s.members[id] != nil {
		return // rejoins are resubscribe's
	}
	m := &simMember{
		instance: rapid.SampledFrom([]string{"", "", "i0", "i1"}).Draw(s.t, "instance"),
		topics:   s.drawTopics("topics"),
		how:      behaviour(rapid.IntRange(0, 5).Draw(s.t, "behaviour") / 2 % 3),
		owned:    make(parts),
	}
	p := JoinParams{
		MemberID: id, InstanceID: m.instance, Topics: m.topics,
		SessionTimeout:   time.Duration(rapid.SampledFrom([]int{3, 6}).Draw(s.t, "session")) * time.Second,
		RebalanceTimeout: time.Duration(rapid.SampledFrom([]int{0, 2}).Draw(s.t, "rebalance")) * time.Second,
	}
	res, err := s.g.Join(s.now, p, s.topics)
	if err != nil {
		if !isCode(err, api.ErrDuplicateInstance) {
			s.t.Fatalf("join %s: %v", id, err)
		}
		return
	}
	for _, r := range s.g.DrainReleased() {
		if r.Why != WhyReplaced {
			s.t.Fatalf("join released %+v", r)
		}
		old := s.members[r.Member]
		m.owned[tp{r.Topic, r.Partition}] = struct{}{}
		if old != nil {
			delete(old.owned, tp{r.Topic, r.Partition})
		}
	}
	s.members[res.MemberID] = m
	s.receive(res.MemberID, res.Generation, res.Assigned)
	s.forgetRemoved()
}

// receive applies an answer to m: it now may own assigned.
func (s *sim) receive(id string, gen int64, assigned api.Assignment) {
	m := s.members[id]
	next := fromAssignment(assigned)
	if !assign.Eager(s.strategy) {
		gm := s.g.members[id]
		for p := range m.held.without(next) {
			if gm.target.has(p) {
				s.t.Fatalf("cooperative: %s/%d revoked from %s while still in its target", p.topic, p.part, id)
			}
		}
	}
	for p := range next {
		if p.part >= s.topics[p.topic] || !slices.Contains(m.topics, p.topic) {
			s.t.Fatalf("%s assigned %s/%d: not subscribed or does not exist", id, p.topic, p.part)
		}
		m.owned[p] = struct{}{}
	}
	m.gen, m.held = gen, next
}

func (s *sim) pick(withSilent bool) string {
	var ids []string
	for _, id := range s.ids() {
		if m := s.members[id]; withSilent || m.how != silent {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return ""
	}
	return rapid.SampledFrom(ids).Draw(s.t, "member")
}

// report is what m says it owns: what it was told, plus for a stubborn
// member what it never gave back.
func (m *simMember) report() api.Assignment {
	if m.how == stubborn {
		return m.owned.assignment()
	}
	return m.held.assignment()
}

func (s *sim) heartbeat(id string) {
	if id == "" {
		return
	}
	m := s.members[id]
	report := m.report()
	res, err := s.g.Heartbeat(s.now, id, m.gen, report, 0)
	if err != nil {
		s.t.Fatalf("heartbeat %s: %v", id, err)
	}
	reported := fromAssignment(report)
	var want []tp
	for p := range m.owned {
		if !reported.has(p) {
			want = append(want, p)
			delete(m.owned, p)
		}
	}
	var got []tp
	for _, r := range s.g.DrainReleased() {
		if r.Member != id || r.Why != WhyReleased {
			s.t.Fatalf("heartbeat of %s released %+v", id, r)
		}
		got = append(got, tp{r.Topic, r.Partition})
	}
	slices.SortFunc(want, tp.compare)
	slices.SortFunc(got, tp.compare)
	if !slices.Equal(want, got) {
		s.t.Fatalf("heartbeat of %s released %v, want %v", id, got, want)
	}
	s.receive(id, res.Generation, res.Assigned)
}

func (s *sim) leave() {
	id := s.pick(true)
	if id == "" {
		return
	}
	if err := s.g.Leave(s.now, id); err != nil {
		s.t.Fatalf("leave %s: %v", id, err)
	}
	s.g.DrainReleased()
	delete(s.members, id)
	s.forgetRemoved()
}

func (s *sim) advance(d time.Duration) {
	s.now = s.now.Add(d)
	if at, ok := s.g.NextDeadline(); ok && !at.After(s.now) {
		s.g.Tick(s.now)
	}
	s.g.DrainReleased()
	s.forgetRemoved()
	if at, ok := s.g.NextDeadline(); ok && !at.After(s.now) {
		s.t.Fatalf("deadline %v not after now %v once ticked", at, s.now)
	}
}

func (s *sim) setPartitions() {
	t := rapid.SampledFrom([]string{"a", "b"}).Draw(s.t, "topic")
	n := s.topics[t]
	switch rapid.IntRange(0, 2).Draw(s.t, "change") {
	case 0:
		n += int32(rapid.IntRange(1, 3).Draw(s.t, "more"))
	case 1:
		n = 0 // deleted
	case 2:
		n = int32(rapid.IntRange(1, 4).Draw(s.t, "recreated"))
	}
	s.topics[t] = n
	s.g.SetPartitions(s.now, s.topics)
	for _, r := range s.g.DrainReleased() {
		if r.Why != WhyTopicDeleted {
			s.t.Fatalf("partition change released %+v", r)
		}
		// The client learns of it at its next heartbeat; until then the
		// group refuses it the partition (CheckOwner), so it holds nothing.
		m := s.members[r.Member]
		delete(m.owned, tp{r.Topic, r.Partition})
		delete(m.held, tp{r.Topic, r.Partition})
	}
}

func (s *sim) resubscribe() {
	id := s.pick(false)
	if id == "" {
		return
	}
	m := s.members[id]
	m.topics = s.drawTopics("resubscribe")
	res, err := s.g.Join(s.now, JoinParams{MemberID: id, InstanceID: m.instance, Topics: m.topics,
		SessionTimeout: s.g.members[id].sessionTimeout, RebalanceTimeout: s.g.members[id].rebalanceTimeout}, s.topics)
	if err != nil {
		s.t.Fatalf("rejoin %s: %v", id, err)
	}
	// A rejoin is a new incarnation: everything the old one owned is
	// released, and it starts from what it is assigned now.
	want := m.owned
	got := make(parts)
	for _, r := range s.g.DrainReleased() {
		if r.Member != id || r.Why != WhyRejoined {
			s.t.Fatalf("rejoin of %s released %+v", id, r)
		}
		got[tp{r.Topic, r.Partition}] = struct{}{}
	}
	if !got.equal(want) {
		s.t.Fatalf("rejoin of %s released %v, want %v", id, got.sorted(), want.sorted())
	}
	m.owned, m.held = make(parts), nil
	s.receive(id, res.Generation, res.Assigned)
}

// forgetRemoved drops members the group removed (fenced, replaced, left):
// their calls are refused from now on, so they own nothing.
func (s *sim) forgetRemoved() {
	for id := range s.members {
		if _, ok := s.g.Member(id); !ok {
			delete(s.members, id)
		}
	}
}

// check compares the simulation's account of ownership with the group's.
func (s *sim) check() {
	if err := s.g.invariants(); err != nil {
		s.t.Fatal(err)
	}
	seen := map[tp]string{}
	for id, m := range s.members {
		for p := range m.owned {
			if o, dup := seen[p]; dup {
				s.t.Fatalf("%s/%d owned by %s and %s", p.topic, p.part, o, id)
			}
			seen[p] = id
			if o, _ := s.g.Owner(p.topic, p.part); o != id {
				s.t.Fatalf("%s/%d: group says owner %q, simulation %s", p.topic, p.part, o, id)
			}
		}
	}
	if len(seen) != len(s.g.owners) {
		s.t.Fatalf("group has %d owned partitions, simulation %d", len(s.g.owners), len(seen))
	}
}

// converge makes every member faithful, lets silent ones time out, then
// expects stability within three rounds.
func (s *sim) converge() {
	for _, m := range s.members {
		if m.how == stubborn {
			m.how = faithful
		}
	}
	heartbeats := func() {
		for _, id := range s.ids() {
			if m := s.members[id]; m != nil && m.how != silent {
				s.heartbeat(id)
			}
		}
		s.check()
	}
	round := func() {
		s.advance(time.Second)
		heartbeats()
	}
	heartbeats() // members that were late catch up before the clock moves
	rounds := 1  // rounds of heartbeats since the last change
	for i := 0; ; i++ {
		// Silent members and departed static members (whose places the
		// group reserves) must time out first.
		waiting := len(s.g.members) != len(s.members)
		for _, m := range s.members {
			waiting = waiting || m.how == silent
		}
		if !waiting {
			break
		}
		if i > 10 {
			s.t.Fatalf("silent or departed members not fenced after %d rounds", i)
		}
		round()
		rounds = 1
	}
	for s.g.State() != StateStable && len(s.members) > 0 {
		if rounds >= 3 {
			s.t.Fatalf("not stable after %d rounds: %s", rounds, s.describe())
		}
		round()
		rounds++
	}
	round() // every member learns the final assignment
	for id, m := range s.members {
		if !m.held.equal(s.g.members[id].target) {
			s.t.Fatalf("%s holds %v, target %v: %s", id, m.held.sorted(), s.g.members[id].target.sorted(), s.describe())
		}
	}
	if s.g.State() != StateStable && len(s.members) > 0 {
		s.t.Fatalf("state %v", s.g.State())
	}
}

// ids lists the members' IDs, sorted.
func (s *sim) ids() []string {
	ids := make([]string, 0, len(s.members))
	for id := range s.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (s *sim) describe() string {
	var how []string
	for _, id := range s.ids() {
		how = append(how, fmt.Sprintf("%s:%d", id, s.members[id].how))
	}
	return fmt.Sprintf("model %v group %v", how, s.g.memberIDs())
}

func isCode(err error, want *api.Error) bool {
	e, ok := err.(*api.Error)
	return ok && e.Code == want.Code
}
