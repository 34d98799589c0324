package assign

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// balanceKgo runs franz-go's range or roundrobin balancer on in.
//
// Both are Kafka's own algorithms and are sound here once the input is
// canonical and ordered as Kafka orders members: static members by instance
// ID ahead of dynamic members by ID (kafkaOrder). kgo's range sorts each
// topic's subscribers so itself; its roundrobin walks members in the order
// given, so a reordered group would otherwise get another plan. Neither
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
	for i, m := range kafkaOrder(in.members) {
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = m.Topics
		joined[i] = kmsg.NewJoinGroupResponseMember()
		joined[i].MemberID = m.ID
		if m.InstanceID != "" {
			joined[i].InstanceID = &m.InstanceID
		}
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

// kafkaOrder returns members (sorted by ID) in the order Kafka's assignors
// use: members with an instance ID first, by instance ID, then the others.
func kafkaOrder(members []Member) []Member {
	out := slices.Clone(members)
	slices.SortStableFunc(out, func(a, b Member) int {
		switch {
		case a.InstanceID != "" && b.InstanceID != "":
			return strings.Compare(a.InstanceID, b.InstanceID)
		case a.InstanceID != "":
			return -1
		case b.InstanceID != "":
			return 1
		}
		return 0 // both dynamic: keep the order by ID
	})
	return out
}
