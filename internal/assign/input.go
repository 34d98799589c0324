package assign

import (
	"fmt"
	"slices"
)

// input is Balance's arguments in canonical form, so that no strategy can see
// the order of members, of their subscriptions, or of a map iteration.
type input struct {
	members []Member         // sorted by ID; each Topics sorted, deduplicated, existing topics only
	topics  []string         // sorted: every existing topic some member subscribes to
	counts  map[string]int32 // topic → partition count > 0, for topics only
}

// canonical validates members and partitions and returns them in canonical
// form. Topics with zero partitions are treated as absent. The callers'
// slices are never modified.
func canonical(members []Member, partitions map[string]int32) (input, error) {
	for topic, n := range partitions {
		if n < 0 {
			return input{}, fmt.Errorf("%w: topic %q has %d partitions", ErrInvalidInput, topic, n)
		}
	}
	in := input{
		members: make([]Member, len(members)),
		counts:  make(map[string]int32),
	}
	for i, m := range members {
		if m.ID == "" {
			return input{}, fmt.Errorf("%w: member %d has an empty ID", ErrInvalidInput, i)
		}
		topics := make([]string, 0, len(m.Topics))
		for _, t := range m.Topics {
			if partitions[t] > 0 {
				topics = append(topics, t)
			}
		}
		slices.Sort(topics)
		topics = slices.Compact(topics)
		in.members[i] = Member{ID: m.ID, Topics: topics, InstanceID: m.InstanceID}
		for _, t := range topics {
			in.counts[t] = partitions[t]
		}
	}
	slices.SortFunc(in.members, func(a, b Member) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	for i := 1; i < len(in.members); i++ {
		if in.members[i].ID == in.members[i-1].ID {
			return input{}, fmt.Errorf("%w: member %q appears twice", ErrInvalidInput, in.members[i].ID)
		}
	}
	in.topics = make([]string, 0, len(in.counts))
	for t := range in.counts {
		in.topics = append(in.topics, t)
	}
	slices.Sort(in.topics)
	return in, nil
}

// emptyPlan returns a plan with an empty entry for every member.
func (in input) emptyPlan() Plan {
	p := make(Plan, len(in.members))
	for _, m := range in.members {
		p[m.ID] = make(map[string][]int32)
	}
	return p
}
