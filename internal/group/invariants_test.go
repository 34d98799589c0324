package group

import "fmt"

// invariants checks the group's internal consistency: every owned partition
// has exactly one owner and owners mirrors the members' owned sets, what a
// member was told is a subset of what it owns, a departed static member owns
// nothing, and the count of unsettled members is right. Tests call it after
// every step.
func (g *Group) invariants() error {
	seen := make(map[tp]string)
	unsettled := 0
	for id, m := range g.members {
		if m.id != id {
			return fmt.Errorf("member %q filed under %q", m.id, id)
		}
		for p := range m.owned {
			if o, dup := seen[p]; dup {
				return fmt.Errorf("%s/%d owned by %s and %s", p.topic, p.part, o, id)
			}
			seen[p] = id
			if g.owners[p] != id {
				return fmt.Errorf("%s/%d owned by %s but owners says %q", p.topic, p.part, id, g.owners[p])
			}
		}
		for p := range m.told {
			if !m.owned.has(p) {
				return fmt.Errorf("%s told %s/%d but does not own it", id, p.topic, p.part)
			}
		}
		if m.left && len(m.owned) > 0 {
			return fmt.Errorf("departed static member %s owns %d partitions", id, len(m.owned))
		}
		if want := m.left || (m.owned.equal(m.target) && m.told.equal(m.target)); m.settled != want {
			return fmt.Errorf("member %s settled=%v, want %v", id, m.settled, want)
		}
		if !m.settled {
			unsettled++
		}
	}
	if len(seen) != len(g.owners) {
		return fmt.Errorf("owners has %d partitions, members own %d", len(g.owners), len(seen))
	}
	if unsettled != g.unsettled {
		return fmt.Errorf("unsettled=%d, counted %d", g.unsettled, unsettled)
	}
	if g.state == StateStable && (g.barrier || unsettled > 0) {
		return fmt.Errorf("stable with barrier=%v and %d unsettled members", g.barrier, unsettled)
	}
	return nil
}
