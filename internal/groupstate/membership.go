package groupstate

import (
	"fmt"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/group"
)

// Join is a join as the group needs it: the membership's parameters
// (ClientHost becomes the member's host), the delivery settings named and
// the protocol the member speaks (ProtocolHTTP, ProtocolConsumer).
type Join struct {
	Params   group.JoinParams
	Settings Settings
	Protocol string
}

// Join adds a member (see group.Group.Join). A join into an empty group
// creates it: what it leaves out of the assignor, offset_reset and
// settings comes from the saved settings, and what it names is saved
// (Effects.Settings). A join into a live group naming other delivery
// settings than the creator's is refused. topics holds at least the
// topics the join names. Errors: those of group.Group.Join,
// TOO_MANY_MEMBERS, INVALID_ARGUMENT (settings), INCONSISTENT_GROUP_PROTOCOL
// (see checkProtocol).
func (a *Group) Join(now time.Time, j Join, topics Topics) (group.JoinResult, Effects, error) {
	a.begin(topics)
	res, err := a.join(now, j)
	return res, a.end(now), err
}

func (a *Group) join(now time.Time, j Join) (group.JoinResult, error) {
	if err := a.checkProtocol(j.Protocol); err != nil {
		return group.JoinResult{}, err
	}
	if err := a.memberLimit(now, j.Params); err != nil {
		return group.JoinResult{}, err
	}
	creating := a.g.Empty()
	set := j.Settings
	var saved Saved
	if creating {
		saved = a.saved.inherit(&j.Params, &set)
		saved.Protocol = j.Protocol
	} else if err := a.settings.conflict(set); err != nil {
		return group.JoinResult{}, err
	}
	res, err := a.g.Join(now, j.Params, a.counts())
	a.afterOp()
	if err != nil {
		return group.JoinResult{}, err
	}
	if creating {
		a.offsetReset = j.Params.OffsetReset
		if set != a.settings {
			a.reconfigure(set)
		}
		if saved != a.saved {
			a.saved = saved
			a.fx.Settings = &saved
		}
	}
	a.hosts[res.MemberID] = j.Params.ClientHost
	return res, nil
}

// Fixes returns the settings j would save if it joined now
// (Effects.Settings), and whether it would save any: a join that creates
// the group and fixes other settings than those saved. Its owner saves
// them before it runs the join, so that a join whose settings cannot be
// saved is refused rather than applied until a restart.
func (a *Group) Fixes(j Join) (Saved, bool) {
	if !a.g.Empty() || a.g.State() == group.StateDead || a.checkProtocol(j.Protocol) != nil {
		return Saved{}, false
	}
	p, set := j.Params, j.Settings
	saved := a.saved.inherit(&p, &set)
	saved.Protocol = j.Protocol
	return saved, saved != a.saved
}

// SavedSettings returns the settings saved for the group's next creating
// join.
func (a *Group) SavedSettings() Saved { return a.saved }

// inherit fills what p and set leave out from s, and returns the settings
// they then fix.
func (s Saved) inherit(p *group.JoinParams, set *Settings) Saved {
	fill := func(v *string, saved string) {
		if *v == "" {
			*v = saved
		}
	}
	fill(&p.Assignor, s.Assignor)
	fill(&p.OffsetReset, s.OffsetReset)
	if set.MaxRetries == 0 {
		set.MaxRetries = s.MaxRetries
	}
	if set.VisibilityTimeout == 0 {
		set.VisibilityTimeout = s.VisibilityTimeout
	}
	if set.MaxInFlight == 0 {
		set.MaxInFlight = s.MaxInFlight
	}
	return Saved{Assignor: p.Assignor, OffsetReset: p.OffsetReset, Settings: *set}
}

// conflict refuses a join into a live group that names delivery settings
// other than those its creator fixed; zero fields name nothing.
func (s Settings) conflict(o Settings) error {
	bad := func(setting string, have, want any) error {
		return api.ErrInvalidArgument.Withf("group uses %s %v, fixed by the member that created it; join with %v or omit it", setting, have, want).
			WithDetail("setting", setting).WithDetail("group_value", fmt.Sprint(have))
	}
	switch {
	case o.MaxRetries != 0 && o.MaxRetries != s.MaxRetries:
		return bad("max retries", s.MaxRetries, o.MaxRetries)
	case o.VisibilityTimeout != 0 && o.VisibilityTimeout != s.VisibilityTimeout:
		return bad("visibility timeout", s.VisibilityTimeout, o.VisibilityTimeout)
	case o.MaxInFlight != 0 && o.MaxInFlight != s.MaxInFlight:
		return bad("max in flight", s.MaxInFlight, o.MaxInFlight)
	}
	return nil
}

// reconfigure gives an empty group new delivery settings: a fresh
// delivery.Group restored from the old one's offsets. An empty group holds
// nothing in flight; a pending dead letter is delivered again, and the
// report of a write of it still outstanding is stale (no longer awaited),
// so that it cannot settle the letter of a later death of the same message.
func (a *Group) reconfigure(set Settings) {
	d := delivery.NewGroup(set.config().Or(a.cfg.Delivery))
	for _, tp := range a.d.Partitions() {
		if committed, acked, ok := a.d.Snapshot(tp); ok {
			d.Restore(tp, committed, acked)
			d.RestoreCounters(tp, a.d.Stats(tp))
		}
	}
	a.d, a.settings = d, set
	a.dead = newDeadLetters(a.dead.seq)
}

// memberLimit refuses a join that would add a member to a group holding
// MaxMembers already: a known member joining again, or a static member
// taking over its instance, adds none.
func (a *Group) memberLimit(now time.Time, p group.JoinParams) error {
	if a.cfg.MaxMembers <= 0 {
		return nil
	}
	if p.MemberID != "" {
		if a.g.HasMember(p.MemberID) {
			return nil
		}
	}
	members := a.g.Describe(now).Members
	if len(members) < a.cfg.MaxMembers {
		return nil
	}
	for _, m := range members {
		if p.InstanceID != "" && m.InstanceID == p.InstanceID {
			return nil
		}
	}
	return api.ErrTooManyMembers.Withf("group %q has %d members, its limit; raise --max-group-members", a.id, len(members)).
		WithDetail("group", a.id).WithDetail("max_group_members", a.cfg.MaxMembers)
}

// Heartbeat keeps a member alive and tells it what it may own now (see
// group.Group.Heartbeat); host is the peer of the request.
func (a *Group) Heartbeat(now time.Time, member string, generation int64, owned api.Assignment, seq int64, host string) (group.HeartbeatResult, Effects, error) {
	a.begin(nil)
	before, _ := a.g.Member(member)
	res, err := a.g.Heartbeat(now, member, generation, owned, seq)
	a.afterOp()
	if err == nil {
		if !sameAssignment(before.Assigned, res.Assigned) {
			a.wake() // the member's long poll waits on its old partitions
		}
		a.hosts[member] = host
	}
	return res, a.end(now), err
}

// Subscribe changes what a live member subscribes to, in place (see
// group.Group.Subscribe); topics holds at least the topics named. Errors:
// those of group.Group.Subscribe.
func (a *Group) Subscribe(now time.Time, member string, generation int64, subscription []string, regex string, topics Topics) (Effects, error) {
	a.begin(topics)
	err := a.g.Subscribe(now, member, generation, subscription, regex, a.counts())
	a.afterOp()
	return a.end(now), err
}

// Leave removes a member; what it held in flight goes to the next owners
// at once. A static member keeps its place until its session timeout
// (group.Group.Leave) unless it leaves for good (group.Group.LeaveForGood).
// Errors: those of group.Group.Leave.
func (a *Group) Leave(now time.Time, member string, forGood bool) (Effects, error) {
	a.begin(nil)
	leave := a.g.Leave
	if forGood {
		leave = a.g.LeaveForGood
	}
	err := leave(now, member)
	a.afterOp()
	if err == nil {
		if a.d.ReleaseMember(member) > 0 {
			a.wake()
		}
		delete(a.hosts, member)
		delete(a.nudged, member)
	}
	return a.end(now), err
}

// afterOp hands off what left members in the last membership change:
// partitions a member released give their in-flight messages to the next
// owner at once; a departed member gives up everything; a partition that
// no longer exists is forgotten. It records new subscriptions and wakes
// long polls when some member's assignment may have changed. Call it after
// every mutating call on a.g.
func (a *Group) afterOp() {
	a.ops++
	a.subscribe()
	rel := a.g.DrainReleased()
	if gen := a.g.Generation(); gen != a.epoch || len(rel) > 0 {
		// A new target or a release: members whose assignment changed
		// must learn it now, not at their next heartbeat (see Poll).
		a.epoch = gen
		a.changes++
		for id := range a.nudged {
			if !a.g.HasMember(id) {
				delete(a.nudged, id)
			}
		}
		a.wake()
	}
	for _, r := range rel {
		tp := delivery.TP{Topic: r.Topic, Partition: r.Partition}
		if _, exists := a.lookup(r.Topic); r.Why == group.WhyTopicDeleted && !exists && a.d.Has(tp) {
			a.forget(tp)
		} else {
			a.d.Release(r.Member, tp)
		}
		if !a.g.HasMember(r.Member) {
			a.d.ReleaseMember(r.Member)
			delete(a.hosts, r.Member)
		}
	}
}

// subscribe records, for each topic the group subscribes to and has never
// seen, its partitions' high watermarks: where offset_reset latest starts
// them (startOffset). A topic the group already has delivery state on
// (restored offsets) is recorded with none: its partitions without state
// were added since, and start at their earliest.
func (a *Group) subscribe() {
	for _, t := range a.g.Topics() {
		if _, ok := a.subs[t]; ok {
			continue
		}
		top, ok := a.topic(t)
		if !ok {
			continue
		}
		hwms := []int64{}
		if !slices.ContainsFunc(a.d.Partitions(), func(tp delivery.TP) bool { return tp.Topic == t }) {
			hwms = make([]int64, len(top.Partitions))
			for i, p := range top.Partitions {
				hwms[i] = p.HighWatermark
			}
		}
		if a.subs == nil {
			a.subs = make(map[string][]int64)
		}
		a.subs[t] = hwms
	}
}

func sameAssignment(a, b api.Assignment) bool {
	count := func(x api.Assignment) (n int) {
		for _, ps := range x {
			n += len(ps)
		}
		return n
	}
	if count(a) != count(b) {
		return false
	}
	for t, ps := range a {
		if !slices.Equal(ps, b[t]) {
			return false
		}
	}
	return true
}
