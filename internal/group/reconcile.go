package group

import (
	"slices"
	"strings"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/assign"
)

// reconcile decides what m may own now and records it as told (and owned):
// its target partitions that nobody else owns, unless an eager barrier
// holds everything back. What m owns beyond that it must revoke; the first
// time it is asked to, its rebalance timeout starts.
func (g *Group) reconcile(now time.Time, m *member) {
	g.liftBarrier()
	next := g.grantable(m)
	if !g.barrier {
		clear(m.kept) // handed its new assignment: what it has is owned now
	}
	for p := range next {
		if !m.owned.has(p) {
			m.owned[p] = struct{}{}
			g.owners[p] = m.id
		}
	}
	m.told, m.toldWire = next, nil
	switch {
	case len(m.owned) == len(m.told): // owned ⊇ told, so nothing to revoke
		m.revokeBy = time.Time{}
	case m.revokeBy.IsZero():
		m.revokeBy = now.Add(m.rebalanceTimeout)
	}
	if m.gen != g.epoch {
		m.prevGen, m.gen = m.gen, g.epoch
	}
	g.refresh(m)
}

// grantable is what m may own now: its target partitions that nobody else
// owns, or nothing while an eager barrier holds (one nobody owns anything
// under is lifted at the next reconcile).
func (g *Group) grantable(m *member) parts {
	next := make(parts, len(m.target))
	if g.barrier && len(g.owners) > 0 {
		return next
	}
	for p := range m.target {
		if o, ok := g.owners[p]; !ok || o == m.id {
			next[p] = struct{}{}
		}
	}
	return next
}

// HeartbeatDue reports whether a heartbeat of memberID now would be
// answered another assignment than it was last told: partitions to take or
// to release. A long poll answers early when it becomes true, so that
// rebalances travel at once instead of at the next heartbeat interval. An
// unknown or departed member has no heartbeat due.
func (g *Group) HeartbeatDue(memberID string) bool {
	m := g.members[memberID]
	if m == nil || m.left || g.state == StateDead {
		return false
	}
	return !g.grantable(m).equal(m.told)
}

// Settled reports whether every member owns exactly its target and was
// told so: no partition is on its way from one member to another.
func (g *Group) Settled() bool { return g.unsettled == 0 }

// release records that p left m.
func (g *Group) release(m *member, p tp, why Why) {
	if g.barrier && why == WhyReleased {
		m.kept[p] = struct{}{}
	}
	delete(m.owned, p)
	delete(m.told, p)
	m.toldWire = nil
	if g.owners[p] == m.id {
		delete(g.owners, p)
	}
	if len(m.owned) == len(m.told) {
		m.revokeBy = time.Time{}
	}
	g.released = append(g.released, Release{Member: m.id, Topic: p.topic, Partition: p.part, Why: why})
	g.refresh(m)
}

// refresh recounts whether m is settled: it owns exactly its target and
// was told so (told ⊆ owned, so equal sizes mean equal sets).
func (g *Group) refresh(m *member) {
	s := m.left || (m.owned.equal(m.target) && len(m.told) == len(m.target))
	if s == m.settled {
		return
	}
	m.settled = s
	if s {
		g.unsettled--
	} else {
		g.unsettled++
	}
}

// liftBarrier ends an eager rebalance's release phase once nobody owns
// anything.
func (g *Group) liftBarrier() {
	if g.barrier && len(g.owners) == 0 {
		g.barrier = false
	}
}

// remove takes m out of the group, releasing what it owns.
func (g *Group) remove(m *member, why Why) {
	for _, p := range m.owned.sorted() {
		g.release(m, p, why)
	}
	if !m.settled {
		g.unsettled--
	}
	delete(g.members, m.id)
	if m.instanceID != "" && g.instances[m.instanceID] == m.id {
		delete(g.instances, m.instanceID)
	}
}

// releaseGone releases every owned partition that no longer exists: topics
// whose count shrank (to zero when deleted) from prev to next.
func (g *Group) releaseGone(prev, next map[string]int32) {
	for _, id := range g.memberIDs() {
		m := g.members[id]
		for _, p := range m.owned.sorted() {
			if p.part < prev[p.topic] && p.part >= next[p.topic] {
				g.release(m, p, WhyTopicDeleted)
			}
		}
	}
}

// memberIDs returns the member IDs sorted: the order of every loop whose
// effects are visible, so that the group is deterministic.
func (g *Group) memberIDs() []string {
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// assignMembers lists members (sorted by ID) as the assignor sees them.
func assignMembers(ms map[string]*member) []assign.Member {
	out := make([]assign.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, assign.Member{ID: m.id, Topics: m.topics, InstanceID: m.instanceID})
	}
	slices.SortFunc(out, func(a, b assign.Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// held is the previous assignment that sticky assignors preserve: what each
// member owns (told it may, and not yet released) and, during an eager
// rebalance, what it released only because of the barrier and nobody owns
// since. It is not the pending target: a partition the target gives a
// member that does not own it yet has not moved, and giving it to another
// moves nothing; keeping the target instead would make a member that owns
// its partitions give them up for ones it never had when membership
// changes again before every member heartbeated. A departed static
// member holds its target, reserved for its restart. from's holdings are
// listed under to (a static member's restart), unless from == to.
func (g *Group) held(from, to string) assign.Plan {
	out := make(assign.Plan, len(g.members))
	for id, m := range g.members {
		a := map[string][]int32{}
		for _, p := range m.owned.sorted() {
			a[p.topic] = append(a[p.topic], p.part)
		}
		extra := m.kept
		if m.left {
			extra = m.target
		}
		for _, p := range extra.sorted() {
			if _, taken := g.owners[p]; !taken {
				a[p.topic] = append(a[p.topic], p.part)
			}
		}
		if id == from {
			id = to
		}
		out[id] = a
	}
	return out
}

// rebalance recomputes the target after a change made outside Join. Should
// the assignor fail (a bug: the strategy was validated), the previous target
// is kept, minus what is no longer valid, so the group never stalls.
func (g *Group) rebalance(now time.Time, reason Reason) {
	plan, err := g.balance(g.assignor, assignMembers(g.members), g.partitions, g.held("", ""))
	if err != nil {
		plan = g.target
	}
	g.apply(now, reason, plan)
}

// apply bumps the epoch to a new target and opens its rebalance record.
func (g *Group) apply(now time.Time, reason Reason, plan assign.Plan) {
	plan = g.sanitize(plan)
	g.epoch++
	g.history.start(now, g.epoch, reason, diff(g.target, plan))
	g.target = plan
	g.barrier = assign.Eager(g.assignor)
	for id, m := range g.members {
		m.target = make(parts)
		for t, ps := range plan[id] {
			for _, p := range ps {
				m.target[tp{t, p}] = struct{}{}
			}
		}
		if !g.barrier && m.owned.without(m.target) == nil {
			m.revokeBy = time.Time{} // nothing it owns has to go any more
		}
		g.refresh(m)
	}
}

// sanitize keeps of plan only what is valid and exclusive: partitions that
// exist, of topics the member subscribes to, each given to one member. Every
// member gets an entry. It guards the invariants against an assignor bug.
func (g *Group) sanitize(plan assign.Plan) assign.Plan {
	out := make(assign.Plan, len(g.members))
	taken := make(parts)
	for _, id := range g.memberIDs() {
		m := g.members[id]
		mine := make(map[string][]int32)
		for _, t := range m.topics {
			for _, p := range plan[id][t] {
				k := tp{t, p}
				if p < 0 || p >= g.partitions[t] || taken.has(k) {
					continue
				}
				taken[k] = struct{}{}
				mine[t] = append(mine[t], p)
			}
			slices.Sort(mine[t])
		}
		out[id] = mine
	}
	return out
}
