package groupstate

import (
	"math"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/group"
)

// Config holds the broker-wide settings every group starts from.
type Config struct {
	Group      group.Config
	Delivery   delivery.Config // the broker's delivery defaults; zero fields: delivery's
	MaxMembers int             // the most members a group may hold; 0: no limit
}

// Settings are the per-group delivery settings a join names; zero fields
// name nothing (the broker's defaults apply).
type Settings struct {
	MaxRetries        int // -1: no retries
	VisibilityTimeout time.Duration
	MaxInFlight       int
}

func (s Settings) config() delivery.Config {
	return delivery.Config{MaxRetries: s.MaxRetries, VisibilityTimeout: s.VisibilityTimeout, MaxInFlightPerMember: s.MaxInFlight}
}

// Saved are the settings a creating join fixes for its group, as named
// (zero: the broker's default). They outlive the group's members and a
// restart: a join that creates the group again and leaves a setting out
// takes the saved one; one that names a setting replaces it.
type Saved struct {
	Assignor    string
	OffsetReset string
	// Protocol is the protocol the creating join's member spoke
	// (ProtocolHTTP, ProtocolConsumer); a join never inherits it.
	Protocol string
	Settings
}

// Group is one consumer group's decided state. It is not safe for
// concurrent use: its owner serialises every call (and performs the
// effects after). Every field is touched only from those calls.
type Group struct {
	id  string
	cfg Config // immutable after New

	g           *group.Group
	d           *delivery.Group
	settings    Settings           // as the creating member named them
	offsetReset string             // the creating member's offset_reset
	saved       Saved              // what a creating join leaves out comes from here
	classic     bool               // held by classic Kafka members, whom another front end coordinates (HoldClassic)
	wasClassic  bool               // ever held so: the front end's group goes on from this one's generations
	hosts       map[string]string  // member ID → peer host of its last request
	known       Topics             // every topic as of the last SetTopics; nil before it
	subs        map[string][]int64 // topic → its partitions' high watermarks when the group first subscribed
	born        map[string]int64   // topic → created_at of the topic the group knows by that name (restored, or first seen)
	dead        deadLetters
	hints       deadlines // lower bounds of the delivery deadlines a due redelivery hides
	looked      time.Time // when Tick last ran
	epoch       int64     // the generation long polls were last woken for
	// changes counts the commands that may have changed some member's
	// assignment (a new generation, a release); nudged holds, per member,
	// the count at which a poll last answered early for its due heartbeat,
	// so a member is nudged once per change: a client that ignores the
	// nudge long-polls as before, never in a busy loop of early answers.
	changes uint64
	nudged  map[string]uint64

	ops      uint64        // membership commands run: a poll's plan is valid while it stays
	lastPlan *pollPlan     // the last poll's, while ops says it is valid
	owned    []delivery.TP // scratch of poll
	ends     []int64       // scratch of poll

	meta map[delivery.TP]committedMeta // Kafka commit metadata; see Metadata

	arg Topics  // during a command: the topics it was given (looked up before known)
	fx  Effects // during a command: the effects collected
}

// New returns an empty group named id.
func New(id string, cfg Config) *Group {
	return &Group{
		id:     id,
		cfg:    cfg,
		g:      group.New(id, cfg.Group),
		d:      delivery.NewGroup(cfg.Delivery),
		hosts:  make(map[string]string),
		nudged: make(map[string]uint64),
		born:   make(map[string]int64),
		meta:   make(map[delivery.TP]committedMeta),
		dead:   newDeadLetters(0),
	}
}

// Restore gives tp the state stored for it before a restart: the
// committed offset, the acknowledged offsets above it, the created_at of
// the topic it is of (0: unknown) and the metadata committed with the
// offset ("": none). Members are gone with the old process: what they had
// in flight is delivered again. Call it before any other command.
func (a *Group) Restore(tp delivery.TP, committed int64, acked []delivery.Range, born int64, metadata string) {
	a.d.Restore(tp, committed, acked)
	a.note(tp, committed, metadata)
	if born != 0 {
		a.born[tp.Topic] = born
	}
}

// RestoreSettings gives the group the settings saved for it before a
// restart, for its next creating join.
func (a *Group) RestoreSettings(s Saved) { a.saved = s }

// Delete marks an empty group dead: every later command answers
// GROUP_NOT_FOUND. The caller forgets its stored offsets and settings.
// Errors: GROUP_NOT_EMPTY.
func (a *Group) Delete() error {
	if a.classic {
		return api.ErrGroupNotEmpty.Withf("group %q has classic Kafka members", a.id).WithDetail("group", a.id)
	}
	a.ops++
	return a.g.Delete()
}

// Undelete takes back a Delete whose stored half (offsets, settings)
// failed: the group is as it was before it.
func (a *Group) Undelete() {
	a.ops++
	a.g.Undelete()
}

// ID returns the group's name.
func (a *Group) ID() string { return a.id }

// Queries: they change nothing.

// Describe renders the membership (see group.Group.Describe). An empty
// group shows the assignor it keeps for its next first member (Saved),
// which the membership forgets with its last member.
func (a *Group) Describe(now time.Time) api.GroupDescription {
	d := a.g.Describe(now)
	if d.Assignor == "" {
		d.Assignor = a.saved.Assignor
	}
	return d
}

// Rebalances returns the rebalance statistics (see group.Group.Rebalances).
func (a *Group) Rebalances(now time.Time) api.RebalanceStats { return a.g.Rebalances(now) }

// State returns the membership's state.
func (a *Group) State() group.State { return a.g.State() }

// Generation returns the group epoch.
func (a *Group) Generation() int64 { return a.g.Generation() }

// Empty reports whether the group has no members.
func (a *Group) Empty() bool { return a.g.Empty() }

// Member describes a live member.
func (a *Group) Member(id string) (group.MemberInfo, bool) { return a.g.Member(id) }

// PollScope is group.Group.PollScope.
func (a *Group) PollScope(id string) ([]string, api.Assignment, bool) { return a.g.PollScope(id) }

// Owner returns the member that owns a partition, if any.
func (a *Group) Owner(topic string, partition int32) (string, bool) {
	return a.g.Owner(topic, partition)
}

// Topics returns the sorted union of the members' subscriptions.
func (a *Group) Topics() []string { return a.g.Topics() }

// Assignment returns what a member may poll (see group.Group.Assignment).
func (a *Group) Assignment(member string, generation int64) (api.Assignment, error) {
	return a.g.Assignment(member, generation)
}

// HeartbeatDue reports whether a heartbeat of member now would be told
// another assignment.
func (a *Group) HeartbeatDue(member string) bool { return a.g.HeartbeatDue(member) }

// Settled reports whether no partition is on its way between members.
func (a *Group) Settled() bool { return a.g.Settled() }

// Host returns the peer host of member's last request.
func (a *Group) Host(member string) (string, bool) {
	h, ok := a.hosts[member]
	return h, ok
}

// InFlight returns how many messages member holds.
func (a *Group) InFlight(member string) int { return a.d.InFlight(member) }

// Partitions returns every partition the group has delivery state for, sorted.
func (a *Group) Partitions() []delivery.TP { return a.d.Partitions() }

// Committed returns tp's committed offset; ok is false without state.
func (a *Group) Committed(tp delivery.TP) (int64, bool) { return a.d.Committed(tp) }

// Metadata returns the metadata string a Kafka client committed with tp's
// committed offset: "" if none was, or if the offset has moved since
// (acknowledgements, retention, a reset), as it then describes another.
func (a *Group) Metadata(tp delivery.TP) string {
	m, ok := a.meta[tp]
	if !ok {
		return ""
	}
	if committed, ok := a.d.Committed(tp); !ok || committed != m.offset {
		return ""
	}
	return m.text
}

// committedMeta is a Kafka commit's metadata and the offset it came with.
type committedMeta struct {
	offset int64
	text   string
}

// note keeps text as the metadata of tp's committed offset off ("":
// none).
func (a *Group) note(tp delivery.TP, off int64, text string) {
	if text == "" {
		delete(a.meta, tp)
		return
	}
	a.meta[tp] = committedMeta{offset: off, text: text}
}

// Has reports whether the group has delivery state for tp.
func (a *Group) Has(tp delivery.TP) bool { return a.d.Has(tp) }

// Stats returns the delivery state of tp.
func (a *Group) Stats(tp delivery.TP) delivery.Stats { return a.d.Stats(tp) }

// LatestStart is, for a partition the group has no delivery state on
// (Has false), where offset_reset latest starts it (startOffset): the high
// watermark recorded when the group subscribed, or math.MaxInt64 where
// none was recorded (it starts at the high watermark of its first poll).
// ok is false where the partition starts at its earliest offset.
func (a *Group) LatestStart(tp delivery.TP) (offset int64, ok bool) {
	if a.offsetReset != api.OffsetResetLatest {
		return 0, false
	}
	hwms, recorded := a.subs[tp.Topic]
	switch {
	case !recorded:
		return math.MaxInt64, true
	case int(tp.Partition) < len(hwms):
		return hwms[tp.Partition], true
	}
	return 0, false
}

// Snapshot returns what is persisted of tp (see delivery.Group.Snapshot).
func (a *Group) Snapshot(tp delivery.TP) (committed int64, acked []delivery.Range, ok bool) {
	return a.d.Snapshot(tp)
}

// DeliveryConfig returns the group's effective delivery settings.
func (a *Group) DeliveryConfig() delivery.Config { return a.d.Config() }

// OffsetReset returns the creating member's offset_reset.
func (a *Group) OffsetReset() string { return a.offsetReset }
