// Package assign computes target assignments of partitions to the members of
// a consumer group. It is pure: no I/O, no clocks, no goroutines. It owns no
// state between calls; the group package owns members, generations and the
// protocol that moves partitions from the previous plan to the target.
//
// range and roundrobin run franz-go's kgo balancers over a canonical input
// (members sorted by ID); sticky and cooperative-sticky share this package's
// own sticky balancer (see sticky.go for why kgo's is not used).
package assign

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// ErrUnknownStrategy: the strategy is not one of Strategies().
var ErrUnknownStrategy = errors.New("assign: unknown strategy")

// ErrInvalidInput: the members or partitions cannot describe a group: a
// member ID is empty or repeated, or a topic has a negative partition count.
// It is a programming error of the caller, never a client's mistake.
var ErrInvalidInput = errors.New("assign: invalid input")

// Strategy names (equal to the api.Assignor* constants).
const (
	Range             = "range"
	RoundRobin        = "roundrobin"
	Sticky            = "sticky"
	CooperativeSticky = "cooperative-sticky"
)

// Strategies returns every known strategy, in a fixed order, in a new slice.
func Strategies() []string { return []string{Range, RoundRobin, Sticky, CooperativeSticky} }

// Member is one group member as the assignor sees it.
type Member struct {
	ID     string
	Topics []string // subscribed topics
	// InstanceID is a static member's instance_id, "" for a dynamic member.
	// range and roundrobin order static members by it, ahead of dynamic
	// members (by ID), as Kafka does: a static member keeps its place
	// across restarts (which change its ID) and when dynamic members come
	// and go.
	InstanceID string
}

// Plan maps member ID → topic → sorted partitions.
type Plan map[string]map[string][]int32

// Balance returns the target assignment of every partition of every topic in
// partitions (topic → partition count) that some member subscribes to. prev is
// the previous target (nil for none); sticky strategies keep as much of it as
// balance allows. The result is deterministic for equal inputs and has an
// entry (possibly empty) for every member.
//
// Guarantees of every strategy: a member gets only partitions of topics it
// subscribes to that exist in partitions; no partition is given twice; every
// partition of a subscribed topic is given to someone; a topic appears in a
// member's map only with at least one partition; the order of members and of
// their topics does not change the result. Entries of prev for members,
// topics or partitions that no longer exist are ignored. Balance per strategy:
//   - range: per topic, the subscribers get contiguous ranges whose sizes
//     differ by at most one, larger ranges first, in the order of static
//     members by instance ID, then dynamic members by ID.
//   - roundrobin: with equal subscriptions, member totals differ by at most one.
//   - sticky, cooperative-sticky: optimally balanced (no chain of moves
//     between subscribers can lower the largest load or Σ load²); with
//     equal subscriptions that means member totals differ by at most one.
//     With equal subscriptions a partition whose previous owner is still
//     present and subscribed stays with it unless that owner is over its
//     new quota (the fewest moves possible). With any subscriptions the
//     moves form no cycle between members (no two members trade), and
//     re-balancing with its own result moves nothing.
//
// Balance returns the full target also for cooperative-sticky: revoking moved
// partitions before handing them out is the group's protocol, not a property
// of the plan.
func Balance(strategy string, members []Member, partitions map[string]int32, prev Plan) (Plan, error) {
	if !Valid(strategy) {
		return nil, fmt.Errorf("%w %q", ErrUnknownStrategy, strategy)
	}
	in, err := canonical(members, partitions)
	if err != nil {
		return nil, err
	}
	switch strategy {
	case Range, RoundRobin:
		return balanceKgo(strategy, in)
	default:
		return balanceSticky(in, prev), nil
	}
}

// Eager reports whether strategy rebalances eagerly (every member releases
// everything before the new plan is handed out); false for cooperative-sticky.
func Eager(strategy string) bool { return strategy != CooperativeSticky }

// Canonical is the strategy name spells, as people write it: the names
// of the consumer-groups guide's table ("RoundRobin", "Cooperative") and
// Kafka's ("cooperative-sticky"), in any case, with or without a "-", "_"
// or space between the words. A name of no strategy is returned as it is,
// for Valid to refuse.
func Canonical(name string) string {
	folded := strings.Map(func(r rune) rune {
		switch r {
		case '-', '_', ' ':
			return -1
		}
		return unicode.ToLower(r)
	}, name)
	switch folded {
	case "range":
		return Range
	case "roundrobin":
		return RoundRobin
	case "sticky":
		return Sticky
	case "cooperativesticky", "cooperative":
		return CooperativeSticky
	}
	return name
}

// Valid reports whether strategy is known.
func Valid(strategy string) bool {
	switch strategy {
	case Range, RoundRobin, Sticky, CooperativeSticky:
		return true
	}
	return false
}
