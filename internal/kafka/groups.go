package kafka

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/assign"
	"github.com/abd-ulbasit/goqueue/internal/coordinator"
	"github.com/abd-ulbasit/goqueue/internal/group"
)

// Kafka's classic consumer groups (JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup): the members agree on a generation here, and the leader
// client computes the assignment and hands it out through SyncGroup, eager
// or cooperative as the clients choose. In a cluster the membership is
// replicated with the group, as Kafka keeps it in its offsets log, and
// goes on where the group moves (groupsave.go); on a single broker it is
// soft state, and members rejoin after a restart. Offsets go to the
// broker's group offset store (see offsetcommit.go).

// groupState is a classic group's state.
type groupState int8

const (
	groupEmpty               groupState = iota // no members
	groupPreparingRebalance                    // waiting for members to (re)join
	groupCompletingRebalance                   // joined; waiting for the leader's SyncGroup
	groupStable                                // assignments handed out
)

func (s groupState) String() string {
	switch s {
	case groupEmpty:
		return "Empty"
	case groupPreparingRebalance:
		return "PreparingRebalance"
	case groupCompletingRebalance:
		return "CompletingRebalance"
	case groupStable:
		return "Stable"
	}
	return fmt.Sprintf("groupState(%d)", int8(s))
}

// groups holds every classic group. mu guards everything in it and in its
// groups and members; handlers block on a member's channels, never on mu.
type groups struct {
	mu     sync.Mutex
	byID   map[string]*kgroup
	nextID int64 // for member IDs
	// coord is the broker's coordinator, which decides each group's
	// protocol: a classic group holds its ID there while it has members.
	coord classicHolder
	saves classicSaves
}

// classicHolder is the broker's side of classic groups (see
// broker.HoldClassicGroup); RecordRebalance counts a closed rebalance as
// one of the group's own (its statistics and generation) and keeps it in
// its history across restarts (GET /groups/{id}/rebalances); the classic
// members are saved and restored with SaveClassicMembers and
// AdoptedClassicMembers (groupsave.go); ForgetBlankGroup drops a group
// made for joins that added no member, and GroupProtocol finds a group
// deleted (see forgetIfUnused).
type classicHolder interface {
	HoldClassicGroup(groupID string) (coordinator.ClassicHold, error)
	ReleaseClassicGroup(groupID string)
	ForgetBlankGroup(groupID string)
	GroupProtocol(groupID string) (string, error)
	ClassicHeld(groupID string) bool
	RecordRebalance(groupID string, r api.Rebalance)
	SaveClassicMembers(groupID string, token uint64, members []byte) error
	AdoptedClassicGroups() []string
	AdoptedClassicMembers(groupID string) ([]byte, coordinator.ClassicHold, bool)
}

type kgroup struct {
	id           string
	state        groupState
	generation   int32
	protocolType string
	protocol     string // chosen at each join completion
	leader       string
	members      map[string]*member
	// pending are member IDs handed out by a JoinGroup answered
	// MEMBER_ID_REQUIRED (v4+), each valid for its next JoinGroup until
	// the time it maps to: the session timeout that join asked for, as
	// Kafka expires a pending member. tick forgets the expired ones.
	pending map[string]time.Time
	// deadline ends the current join or sync phase: members that have not
	// rejoined by then are removed, a leader that has not synced restarts
	// the rebalance.
	deadline time.Time
	// static maps the instance ID of each static member to its member ID
	// (see staticmembers.go).
	static map[string]string
	// held: the group's ID is held at the coordinator (from its first
	// member to its last), so HTTP and KIP-848 members cannot join it;
	// token names the hold to the group's saves (saves: groupsave.go).
	held  bool
	token uint64
	coord classicHolder
	saves *classicSaves
	// history holds the rebalance in progress (GET /groups/{id} shows it,
	// groupview.go; each closed one goes to coord), and owners what the
	// members were last handed (for what each rebalance moved).
	history *group.ExternalHistory
	owners  assign.Plan
	// skip is how many generations the next one skips: one after a
	// restore (groupsave.go), whose saved generation may trail one its
	// last coordinator handed out before the save committed, so that no
	// generation number names two different assignments.
	skip int32
}

type member struct {
	id, instanceID, clientID, host string
	protocols                      []kmsg.JoinGroupRequestProtocol
	session, rebalance             time.Duration
	lastSeen                       time.Time
	assignment                     []byte
	// join is set while the member waits in JoinGroup; sync while it waits
	// in SyncGroup. Each gets exactly one answer (buffered).
	join chan *kmsg.JoinGroupResponse
	sync chan syncAnswer
}

type syncAnswer struct {
	code       int16
	assignment []byte
}

func newGroups(coord classicHolder) *groups {
	return &groups{byID: make(map[string]*kgroup), coord: coord,
		saves: classicSaves{pending: map[string]pendingSave{}, kick: make(chan struct{}, 1)}}
}

// newGroup is an empty group id of gs.
func (gs *groups) newGroup(id string) *kgroup {
	return &kgroup{id: id, members: make(map[string]*member), pending: make(map[string]time.Time),
		static: make(map[string]string), coord: gs.coord, history: group.NewExternalHistory(), saves: &gs.saves}
}

// lookup is the group id as this node coordinates it now, nil if it has
// none; the caller holds gs.mu. A group the coordinator has lost since
// (in a cluster it moved away, and perhaps back) is dropped; a group the
// coordinator adopted with classic members (it moved here) is restored.
func (gs *groups) lookup(id string) *kgroup {
	g := gs.byID[id]
	if g != nil && g.held && gs.coord.ClassicHeld(id) {
		return g
	}
	if members, hold, ok := gs.coord.AdoptedClassicMembers(id); ok {
		now := time.Now()
		restored, err := gs.restoredGroup(id, members, hold, now)
		if err == nil {
			if g != nil {
				// This node had the group, lost it, and has it back: its
				// members may hold a generation newer than the one saved
				// (its save was not committed): they rejoin, from there.
				restored.pending = g.pending
				if g.generation > restored.generation {
					restored.generation = g.generation
					if restored.state != groupPreparingRebalance {
						restored.prepareRebalance(now, group.ReasonMemberRejoined)
					}
				}
				g.dropStale()
			}
			gs.byID[id] = restored
			return restored
		}
		gs.coord.ReleaseClassicGroup(id) // not ours to read: the members rejoin
	}
	if g != nil && g.held {
		g.dropStale()
		delete(gs.byID, id)
		return nil
	}
	return g
}

// dropStale empties a group the coordinator no longer holds for this
// front end: its members are no longer the group's here, and their
// commits would be refused for good. A JoinGroup or SyncGroup still
// waiting is told NOT_COORDINATOR, so that its member looks the
// coordinator up again and goes on there (where the group was restored),
// not UNKNOWN_MEMBER_ID, which would make it join as a stranger.
func (g *kgroup) dropStale() {
	for _, m := range g.members {
		g.removeWith(m, kerr.NotCoordinator.Code)
	}
	g.held = false
}

// live reports whether a group has classic Kafka members.
func (gs *groups) live(id string) bool {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g := gs.lookup(id)
	return g != nil && len(g.members) > 0
}

// hold holds the group's ID at the coordinator before a member is added;
// INCONSISTENT_GROUP_PROTOCOL if it has HTTP or KIP-848 members. Callers
// hold gs.mu.
func (g *kgroup) hold() error {
	if g.held {
		return nil
	}
	h, err := g.coord.HoldClassicGroup(g.id)
	if err != nil {
		return err
	}
	// One sequence of generations per group, whatever protocol its
	// members spoke before. (In a cluster the coordinator's generation
	// goes on past its earlier coordinators' after a move; the classic
	// members' is replicated with them.)
	g.generation = max(g.generation, int32(min(h.Generation, math.MaxInt32)))
	g.held, g.token = true, h.Token
	return nil
}

// run ends overdue rebalances, expires silent members and saves the
// groups' membership (saveLoop) until ctx ends.
func (gs *groups) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { gs.saveLoop(ctx) })
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			gs.tick(now)
		}
	}
}

func (gs *groups) tick(now time.Time) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	for _, id := range gs.coord.AdoptedClassicGroups() {
		gs.lookup(id) // restored now, not at its members' first request
	}
	for id := range gs.byID {
		g := gs.lookup(id) // drops a group the coordinator lost meanwhile
		if g == nil {
			continue
		}
		g.expirePending(now)
		if gs.forgetIfUnused(g) {
			continue
		}
		switch {
		case g.state == groupPreparingRebalance && now.After(g.deadline):
			for _, m := range g.members {
				if m.join == nil {
					g.remove(m) // did not rejoin in time
				}
			}
			g.completeJoin(now)
		case g.state == groupPreparingRebalance:
			// A member that neither rejoins nor heartbeats is gone, as
			// Kafka takes it: the rebalance does not wait out the
			// rebalance timeout for it (a member restored in a group
			// saved before it left, among others).
			for _, m := range g.members {
				if m.join == nil && now.Sub(m.lastSeen) > m.session {
					g.remove(m)
				}
			}
			g.maybeCompleteJoin(now)
		case g.state == groupCompletingRebalance && now.After(g.deadline):
			g.prepareRebalance(now, group.ReasonRebalanceTimeout) // the leader never synced
		default:
			expired := false
			for _, m := range g.members {
				if m.join == nil && m.sync == nil && now.Sub(m.lastSeen) > m.session {
					g.remove(m)
					expired = true
				}
			}
			if expired {
				g.membersChanged(now, group.ReasonSessionTimeout)
			}
		}
	}
}

// expirePending forgets the member IDs handed out whose JoinGroup did not
// come back in time: kept, a client that joins again and again without
// the ID it is given (1,000,000 such joins held 155 MB) grew the group
// for good.
func (g *kgroup) expirePending(now time.Time) {
	expired := false
	for id, until := range g.pending {
		if now.After(until) {
			delete(g.pending, id)
			expired = true
		}
	}
	if expired && len(g.pending) == 0 {
		g.pending = make(map[string]time.Time) // a map keeps its size once grown
	}
}

// forgetIfUnused forgets g, which has no member and no member ID handed
// out pending, if no member ever joined it, here and at the coordinator:
// the group was made for joins that added no member, answered
// MEMBER_ID_REQUIRED (whose IDs expired since) or refused. Kept, each
// stayed for good, listed by GET /groups and counted against
// --max-groups. The coordinator keeps the group if it holds anything
// (offsets, settings, a generation: groupstate.Group.Blank). A group
// whose members left is kept while the coordinator keeps it (its
// generations go on from this one's), and forgotten once the coordinator
// has none (deleted over HTTP, which this listener never hears of). It
// reports whether g was forgotten. Callers hold gs.mu.
func (gs *groups) forgetIfUnused(g *kgroup) bool {
	if len(g.members) > 0 || len(g.pending) > 0 || gs.byID[g.id] != g {
		return false
	}
	if g.generation > 0 {
		if _, err := gs.coord.GroupProtocol(g.id); !errors.Is(err, api.ErrGroupNotFound) {
			return false
		}
	}
	g.releaseIfEmpty()
	delete(gs.byID, g.id)
	gs.coord.ForgetBlankGroup(g.id)
	return true
}

// membersChanged starts a rebalance after members left (for reason), or
// empties the group.
func (g *kgroup) membersChanged(now time.Time, reason group.Reason) {
	if len(g.members) == 0 {
		g.becomeEmpty(now, reason)
		return
	}
	g.prepareRebalance(now, reason)
	g.save()
}

// becomeEmpty starts the group's next generation, as Kafka does, with no
// members: its last members left, so a rebalance (open, or opened now for
// reason) ends with nothing assigned.
func (g *kgroup) becomeEmpty(now time.Time, reason group.Reason) {
	g.state, g.leader, g.protocol = groupEmpty, "", ""
	g.generation++
	if len(g.owners) > 0 {
		g.history.Start(now, int64(g.generation), reason)
	}
	g.handedOut(now, nil)
	g.releaseIfEmpty()
}

// handedOut records the assignment plan handed to the members (nil: none),
// closing the open rebalance.
// It saves the membership: the members hold what they were handed.
func (g *kgroup) handedOut(now time.Time, plan assign.Plan) {
	if r, ok := g.history.Close(now, int64(g.generation), g.owners, plan); ok {
		g.coord.RecordRebalance(g.id, r)
	}
	g.owners = plan
	g.save()
}

// releaseIfEmpty gives the group's hold at the coordinator back once it
// has no members. Callers hold gs.mu.
func (g *kgroup) releaseIfEmpty() {
	if g.held && len(g.members) == 0 {
		g.coord.ReleaseClassicGroup(g.id)
		g.held = false
	}
}

// prepareRebalance makes every member rejoin, for reason: members waiting
// in SyncGroup are told REBALANCE_IN_PROGRESS; the others learn it from
// their next heartbeat. If every member is already waiting in JoinGroup,
// it completes at once.
func (g *kgroup) prepareRebalance(now time.Time, reason group.Reason) {
	g.history.Start(now, int64(g.generation)+1, reason)
	for _, m := range g.members {
		if m.sync != nil {
			m.sync <- syncAnswer{code: kerr.RebalanceInProgress.Code}
			m.sync = nil
		}
	}
	g.state = groupPreparingRebalance
	var longest time.Duration
	for _, m := range g.members {
		longest = max(longest, m.rebalance)
	}
	g.deadline = now.Add(longest)
	g.maybeCompleteJoin(now)
}

// maybeCompleteJoin completes the join once every member waits in it.
func (g *kgroup) maybeCompleteJoin(now time.Time) {
	if g.state != groupPreparingRebalance {
		return
	}
	for _, m := range g.members {
		if m.join == nil {
			return
		}
	}
	g.completeJoin(now)
}

// completeJoin starts a new generation with the members that joined: it
// picks a protocol they all support (the leader's first such), keeps the
// leader if it is still a member, and answers every waiting JoinGroup; the
// leader's answer lists the members and their metadata.
func (g *kgroup) completeJoin(now time.Time) {
	if len(g.members) == 0 {
		g.becomeEmpty(now, group.ReasonRebalanceTimeout)
		return
	}
	g.generation += 1 + g.skip
	g.skip = 0
	ids := slices.Sorted(mapKeys(g.members))
	if _, ok := g.members[g.leader]; !ok {
		g.leader = ids[0]
	}
	g.protocol = ""
	for _, p := range g.members[g.leader].protocols {
		if g.allSupport(p.Name) {
			g.protocol = p.Name
			break
		}
	}
	g.state = groupCompletingRebalance
	g.deadline = now.Add(g.members[g.leader].session)
	for _, m := range g.members {
		m.lastSeen = now
		resp := kmsg.NewPtrJoinGroupResponse()
		resp.Generation, resp.Protocol, resp.LeaderID, resp.MemberID = g.generation, &g.protocol, g.leader, m.id
		pt := g.protocolType
		resp.ProtocolType = &pt
		if m.id == g.leader {
			resp.Members = g.memberList()
		}
		if m.join != nil {
			m.join <- resp
			m.join = nil
		}
	}
}

func (g *kgroup) allSupport(protocol string) bool {
	for _, m := range g.members {
		if m.metadata(protocol) == nil {
			return false
		}
	}
	return true
}

// metadata is the member's metadata for protocol, nil if it lacks it.
func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			if p.Metadata == nil {
				return []byte{}
			}
			return p.Metadata
		}
	}
	return nil
}

// checkMember checks a member ID, instance ID and generation of a group
// request.
func (g *kgroup) checkMember(id string, instanceID *string, generation int32) (*member, int16) {
	m, ok := g.members[id]
	switch {
	case g.fencedInstance(id, instanceID) != 0:
		return nil, kerr.FencedInstanceID.Code
	case !ok:
		return nil, kerr.UnknownMemberID.Code
	case generation != g.generation:
		return nil, kerr.IllegalGeneration.Code
	}
	return m, 0
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
