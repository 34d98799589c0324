package group

import (
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/assign"
)

// balancer computes a target; it is assign.Balance except in tests that need
// to observe or break it.
type balancer func(strategy string, members []assign.Member, partitions map[string]int32, prev assign.Plan) (assign.Plan, error)

// Group is the state machine of one consumer group. It is not safe for
// concurrent use: its owner (the broker) serializes every call, and all of
// the fields below are touched only from those calls.
type Group struct {
	id      string
	cfg     Config   // immutable after New
	balance balancer // immutable after New

	state    State
	epoch    int64  // the generation; bumps on every change of target (RecordExternal and GoOnFrom raise it)
	assignor string // fixed by the first member; "" while empty

	members   map[string]*member // by member ID
	instances map[string]string  // instance ID → member ID, for static members
	// partitions holds the partition count of every subscribed topic that
	// exists; a topic absent or at 0 has no partitions to assign.
	partitions map[string]int32
	target     assign.Plan // the last plan; members' target sets mirror it
	// owners maps each owned partition to its one owner: the invariant that
	// no partition has two owners lives here.
	owners map[tp]string
	// barrier is set by a bump under an eager assignor and lifted once no
	// member owns anything; while set nothing is handed out.
	barrier   bool
	unsettled int // members (not left) whose owned set differs from their target

	released []Release // since the last DrainReleased
	fenced   fencedSet
	joins    uint64 // member IDs generated so far
	history  history
}

// New returns an empty group named id. cfg's zero fields take the defaults;
// an invalid DefaultAssignor (see Config.Validate) falls back to
// cooperative-sticky.
func New(id string, cfg Config) *Group {
	cfg = cfg.withDefaults()
	if !assign.Valid(cfg.DefaultAssignor) {
		cfg.DefaultAssignor = assign.CooperativeSticky
	}
	return &Group{
		id:         id,
		cfg:        cfg,
		balance:    assign.Balance,
		members:    make(map[string]*member),
		instances:  make(map[string]string),
		partitions: make(map[string]int32),
		owners:     make(map[tp]string),
		history:    history{keep: cfg.RecentRebalances},
	}
}

// ID returns the group's name.
func (g *Group) ID() string { return g.id }

// State returns the group's state.
func (g *Group) State() State { return g.state }

// Generation returns the group epoch.
func (g *Group) Generation() int64 { return g.epoch }

// GoOnFrom raises the generation of an empty group to gen (a group
// restored after a restart: to the last its history kept), so its next
// rebalance is past every generation it had.
func (g *Group) GoOnFrom(gen int64) {
	if len(g.members) == 0 {
		g.epoch = max(g.epoch, gen)
	}
}

// Empty reports whether the group has no members (a dead group is empty).
func (g *Group) Empty() bool { return len(g.members) == 0 }

// Topics returns the sorted union of the members' subscriptions: the topics
// whose partition counts the owner must pass to SetPartitions. A set, not
// a search of the union so far: a KIP-848 member may subscribe to topics
// not created yet, any number of them, and one heartbeat naming a million
// took a core for hours under the group's lock, the union being read at
// every command.
func (g *Group) Topics() []string {
	seen := make(map[string]struct{})
	var out []string
	for _, m := range g.members {
		for _, t := range m.topics {
			if _, ok := seen[t]; !ok {
				seen[t] = struct{}{}
				out = append(out, t)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Delete marks an empty group dead. It fails with GROUP_NOT_EMPTY while the
// group has members.
func (g *Group) Delete() error {
	if g.state == StateDead {
		return g.deadErr()
	}
	if len(g.members) != 0 {
		return api.ErrGroupNotEmpty.Withf("group %q has %d members", g.id, len(g.members))
	}
	g.becomeDead()
	return nil
}

// Undelete takes back a Delete that its owner could not make durable:
// the group is empty again, as it was. It panics unless the group is dead.
func (g *Group) Undelete() { g.becomeRevived() }

func (g *Group) deadErr() error {
	return api.ErrGroupNotFound.Withf("group %q was deleted", g.id)
}

// Release is one partition that left a member: the delivery layer hands what
// the member had in flight on it to the next owner.
type Release struct {
	Member    string
	Topic     string
	Partition int32
	Why       Why
}

// Why says how a partition left a member.
type Why int

const (
	WhyReleased     Why = iota // the member's heartbeat no longer listed it
	WhyLeft                    // the member left the group
	WhyFenced                  // session or rebalance timeout
	WhyReplaced                // a new instance with the same instance_id took over
	WhyTopicDeleted            // the topic or partition no longer exists
	WhyRejoined                // the member joined again with its member_id: a new incarnation
)

func (w Why) String() string {
	switch w {
	case WhyReleased:
		return "released"
	case WhyLeft:
		return "left"
	case WhyFenced:
		return "fenced"
	case WhyReplaced:
		return "replaced"
	case WhyTopicDeleted:
		return "topic_deleted"
	case WhyRejoined:
		return "rejoined"
	}
	return "Why(?)"
}

// DrainReleased returns the partitions that left members since the last
// call, in the order they left, and forgets them.
func (g *Group) DrainReleased() []Release {
	out := g.released
	g.released = nil
	return out
}

// NextDeadline returns the earliest time at which Tick has work: a session
// or rebalance timeout. ok is false when no timer runs.
func (g *Group) NextDeadline() (at time.Time, ok bool) {
	for _, m := range g.members {
		for _, d := range [...]time.Time{m.sessionDeadline(), m.revokeBy} {
			if !d.IsZero() && (!ok || d.Before(at)) {
				at, ok = d, true
			}
		}
	}
	return at, ok
}
