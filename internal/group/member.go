package group

import (
	"regexp"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// member is one member of a group. Owned by its Group.
type member struct {
	id          string
	instanceID  string // "" for a dynamic member
	clientID    string
	clientHost  string
	offsetReset string
	topics      []string // sorted, without duplicates
	// regex, when set, is a KIP-848 regex subscription: topics are then
	// the existing topics it matches, kept so by Join, Subscribe and
	// SetPartitions. regex is its source as the member said it.
	regex   string
	matches *regexp.Regexp

	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration

	gen, prevGen int64     // the epoch last sent to the member, and the one before
	lastSeen     time.Time // last join or heartbeat (or leave, for a static member)
	// since is the first epoch of this incarnation (0: a static
	// member's that took over another's place): a call with an older
	// generation comes from an earlier incarnation with the same
	// member_id (replaced by a rejoin, or fenced and gone, or on the
	// group's previous coordinator), and is FENCED_MEMBER.
	since int64
	// hbSeq is the highest heartbeat seq seen since the member's last join
	// (see Heartbeat); 0 until a heartbeat carries one.
	hbSeq int64
	// left is set when a static member leaves: it is no longer in the group's
	// conversations but its target stays reserved until its session times out.
	left bool

	target parts // its share of the group's target
	owned  parts // told it may own, not yet reported released; ⊇ told
	told   parts // the assignment last sent to it
	// toldWire is told rendered (PollScope), nil until asked after told
	// last changed; never modified once made, so a caller may read it
	// after the group's lock is released.
	toldWire api.Assignment
	// kept holds what the member released while an eager barrier held
	// (eager strategies release everything on every bump): what it had
	// before, which stickiness must preserve until it is handed its new
	// assignment. Empty under cooperative-sticky.
	kept parts
	// revokeBy is when the member is fenced if it still owns partitions it
	// was asked to revoke; zero when it has nothing to revoke.
	revokeBy time.Time
	settled  bool // owned and told equal target (always true for a left member)
}

// earlier reports whether a call with generation comes from an earlier
// incarnation of m's member ID (see since). 0 never does: no incarnation
// was handed it.
func (m *member) earlier(generation int64) bool {
	return generation > 0 && generation < m.since
}

func newMember(id string) *member {
	return &member{id: id, target: make(parts), owned: make(parts), told: make(parts), kept: make(parts), settled: true}
}

func (m *member) sessionDeadline() time.Time { return m.lastSeen.Add(m.sessionTimeout) }

// live reports whether a static member is still heartbeating: a join of the
// same instance is then a duplicate, not a restart.
func (m *member) live(now time.Time, interval time.Duration) bool {
	return !m.left && now.Sub(m.lastSeen) < interval
}

// sortedTopics returns topics sorted and without duplicates.
func sortedTopics(topics []string) []string {
	out := slices.Clone(topics)
	slices.Sort(out)
	return slices.Compact(out)
}

// fencedSet remembers the last fencedMemory fenced member IDs so that their
// calls are answered FENCED_MEMBER (rejoin) instead of UNKNOWN_MEMBER_ID.
type fencedSet struct {
	ids   map[string]struct{}
	order []string // oldest first
}

func (f *fencedSet) add(id string) {
	if f.ids == nil {
		f.ids = make(map[string]struct{})
	}
	if _, ok := f.ids[id]; ok {
		return
	}
	f.ids[id] = struct{}{}
	f.order = append(f.order, id)
	if len(f.order) > fencedMemory {
		delete(f.ids, f.order[0])
		f.order = f.order[1:]
	}
}

func (f *fencedSet) has(id string) bool { _, ok := f.ids[id]; return ok }

func (f *fencedSet) remove(id string) {
	if _, ok := f.ids[id]; !ok {
		return
	}
	delete(f.ids, id)
	f.order = slices.DeleteFunc(f.order, func(s string) bool { return s == id })
}
