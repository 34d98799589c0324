package group

import (
	"fmt"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// State is where a group is in its life.
type State int

const (
	// StateEmpty: no members. Offsets (kept by the broker) survive.
	StateEmpty State = iota
	// StateReconciling: some member does not yet own exactly its target, or
	// an eager rebalance is waiting for every member to release.
	StateReconciling
	// StateStable: every member owns exactly its target and was told so.
	StateStable
	// StateDead: deleted; every call answers GROUP_NOT_FOUND.
	StateDead
)

// String returns the state as shown in api.GroupDescription.State.
func (s State) String() string {
	switch s {
	case StateEmpty:
		return api.GroupStateEmpty
	case StateReconciling:
		return api.GroupStateReconciling
	case StateStable:
		return api.GroupStateStable
	case StateDead:
		return api.GroupStateDead
	}
	return fmt.Sprintf("State(%d)", int(s))
}

func (g *Group) mustNotBeDead() {
	if g.state == StateDead {
		panic("group: transition out of dead")
	}
}

// settle moves the group to the state its members imply. Every mutating
// method ends with it.
func (g *Group) settle(now time.Time) {
	g.liftBarrier()
	switch {
	case g.state == StateDead:
	case len(g.members) == 0:
		g.becomeEmpty(now)
	case !g.barrier && g.unsettled == 0:
		g.becomeStable(now)
	default:
		g.becomeReconciling()
	}
}

// becomeEmpty forgets the assignor and the target (the next first member
// picks them again) and closes any rebalance in progress.
func (g *Group) becomeEmpty(now time.Time) {
	g.mustNotBeDead()
	if len(g.members) != 0 {
		panic("group: becomeEmpty with members")
	}
	g.state = StateEmpty
	g.assignor = ""
	g.target = nil
	g.barrier = false
	g.unsettled = 0
	g.history.close(now)
}

func (g *Group) becomeReconciling() {
	g.mustNotBeDead()
	if len(g.members) == 0 {
		panic("group: becomeReconciling without members")
	}
	g.state = StateReconciling
}

// becomeStable closes the rebalance in progress, if any.
func (g *Group) becomeStable(now time.Time) {
	g.mustNotBeDead()
	if len(g.members) == 0 || g.barrier || g.unsettled != 0 {
		panic("group: becomeStable while members still reconcile")
	}
	g.state = StateStable
	g.history.close(now)
}

func (g *Group) becomeDead() {
	if len(g.members) != 0 {
		panic("group: becomeDead with members")
	}
	g.state = StateDead
}

// becomeRevived takes a deletion back: a dead group, which had no members
// when it died and took none since, is empty again.
func (g *Group) becomeRevived() {
	if g.state != StateDead || len(g.members) != 0 {
		panic("group: becomeRevived of a live group")
	}
	g.state = StateEmpty
}
