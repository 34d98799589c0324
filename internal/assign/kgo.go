package assign

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// balanceKgo runs franz-go's range or roundrobin balancer on in.
//
// Both are Kafka's own algorithms and are sound here once the input is
// canonical: kgo's roundrobin walks members in the order given (so a
// reordered group would get another plan), which canonical fixes by sorting
// members by ID; range sorts the subscribers of each topic itself. Neither
// reads a previous assignment. kgo is called through BalanceOrError because
// its Balance may panic.
func balanceKgo(strategy string, in input) (Plan, error) {
	var bal kgo.GroupBalancer
	switch strategy {
	case Range:
		bal = kgo.RangeBalancer()
	case RoundRobin:
		bal = kgo.RoundRobinBalancer()
	default:
		return nil, fmt.Errorf("%w %q", ErrUnknownStrategy, strategy)
	}
	if len(in.members) == 0 {
		return Plan{}, nil
	}

	joined := make([]kmsg.JoinGroupResponseMember, len(in.members))
	for i, m := range in.members {
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = m.Topics
		joined[i] = kmsg.NewJoinGroupResponseMember()
		joined[i].MemberID = m.ID
		joined[i].ProtocolMetadata = meta.AppendTo(nil)
	}
	mb, _, err := bal.MemberBalancer(joined)
	if err != nil {
		return nil, fmt.Errorf("assign: %s: %w", strategy, err)
	}
	boe, ok := mb.(kgo.GroupMemberBalancerOrError)
	if !ok {
		return nil, fmt.Errorf("assign: %s: kgo balancer %T cannot report errors", strategy, mb)
	}
	res, err := boe.BalanceOrError(in.counts)
	if err != nil {
		return nil, fmt.Errorf("assign: %s: %w", strategy, err)
	}
	bp, ok := res.(*kgo.BalancePlan)
	if !ok {
		return nil, fmt.Errorf("assign: %s: unexpected kgo plan %T", strategy, res)
	}

	// Copy out of kgo's plan: it may alias kgo's buffers, and the result
	// must hold only non-empty, sorted topic entries.
	plan := in.emptyPlan()
	for member, topics := range bp.AsMemberIDMap() {
		dst, ok := plan[member]
		if !ok {
			return nil, fmt.Errorf("assign: %s: kgo planned for unknown member %q", strategy, member)
		}
		for topic, parts := range topics {
			if len(parts) == 0 {
				continue
			}
			ps := slices.Clone(parts)
			slices.Sort(ps)
			dst[topic] = ps
		}
	}
	return plan, nil
}
