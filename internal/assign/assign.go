// Package assign computes target assignments of partitions to the members of
// a consumer group. It is pure: no I/O, no clocks, no goroutines.
//
// CONTRACT (fixed; the implementation may add, never change, these names).
package assign

import "errors"

// ErrUnknownStrategy: the strategy is not one of Strategies.
var ErrUnknownStrategy = errors.New("assign: unknown strategy")

// Strategy names (equal to the api.Assignor* constants).
const (
	Range             = "range"
	RoundRobin        = "roundrobin"
	Sticky            = "sticky"
	CooperativeSticky = "cooperative-sticky"
)

// Member is one group member as the assignor sees it.
type Member struct {
	ID     string
	Topics []string // subscribed topics
}

// Plan maps member ID → topic → sorted partitions.
type Plan map[string]map[string][]int32

// Balance returns the target assignment of every partition of every topic in
// partitions (topic → partition count) that some member subscribes to. prev is
// the previous target (nil for none); sticky strategies keep as much of it as
// balance allows. The result is deterministic for equal inputs and has an
// entry (possibly empty) for every member.
func Balance(strategy string, members []Member, partitions map[string]int32, prev Plan) (Plan, error) {
	panic("unimplemented")
}

// Eager reports whether strategy rebalances eagerly (every member releases
// everything before the new plan is handed out); false for cooperative-sticky.
func Eager(strategy string) bool { return strategy != CooperativeSticky }

// Valid reports whether strategy is known.
func Valid(strategy string) bool {
	switch strategy {
	case Range, RoundRobin, Sticky, CooperativeSticky:
		return true
	}
	return false
}
