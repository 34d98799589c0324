// Package groupstore is the replicated durable state of a cluster's
// consumer groups: per group its saved settings and, per partition, the
// committed offset and the acknowledged ranges above it (what a single
// broker keeps in offsets.db and meta.db). The groups are spread by a
// fixed hash over Shards Raft groups, as Kafka spreads them over the
// partitions of __consumer_offsets; each shard's state is a State, the
// state machine of its Raft group, applied on every replica, so that the
// replica elected next holds every write the last leader had acknowledged.
//
// The coordinator of a group is the leader of its shard. A new leader
// first commits a Claim carrying its epoch (its Raft term) and only then
// reads the state and coordinates; every write names the epoch of the
// claim it was made under, and a write of an older epoch than the last
// claim applied is refused (ErrFenced) on every replica alike. So a
// deposed coordinator can acknowledge nothing once its successor has
// claimed, even if its write reaches the log after the claim.
//
// Of members it keeps only the classic Kafka membership, as an opaque
// value of the Kafka front end's (see Classic), and, for the others, a
// ceiling on the generations handed out (see Generations), so that a new
// coordinator starts its groups past every generation its predecessors
// handed out; members' leases and in-flight messages are not replicated
// (a new coordinator delivers them again). It knows nothing of Raft
// beyond the StateMachine it implements.
package groupstore

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"sync"

	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// Shards is how many Raft groups hold the groups' state. It is part of
// the on-disk format: ShardOf must place a group where it was placed
// before, so it never changes.
const Shards = 8

// ShardOf is the shard holding group: FNV-1a of its ID modulo Shards (a
// fixed algorithm, so every node and version agrees).
func ShardOf(group string) int {
	h := fnv.New32a()
	h.Write([]byte(group))
	return int(h.Sum32() % Shards)
}

// GenerationBlock is how many generations a claim reserves for the groups
// of its shard (see Generations): a new coordinator starts its groups
// at the ceiling its predecessors reached and may hand out this many more
// of each group's generations before it writes a raise of the ceiling.
// The claim, written anyway, costs no entry; a raise costs one per
// GenerationBlock rebalances of the shard's busiest group, in the path of
// the join or heartbeat that crossed the ceiling. The price is a jump of
// the generations at each move of the shard: with 1000, a group's
// generation, an int32 for Kafka's clients, lasts two million moves.
const GenerationBlock = 1000

// MaxGeneration is the largest ceiling (Kafka's generations are int32).
const MaxGeneration = math.MaxInt32

// ErrFenced refuses a write made under an epoch older than the shard's
// last claim: its coordinator was deposed.
var ErrFenced = errors.New("groupstore: fenced: a newer coordinator has claimed the group's shard")

// Stamp orders the writes of one partition: the epoch they were made
// under, then the coordinator's sequence number within it
// (offsetstore.Store.Next, taken under the group's lock).
type Stamp struct {
	Epoch uint64 `json:"e"`
	Seq   uint64 `json:"s"`
}

func (a Stamp) less(b Stamp) bool {
	return a.Epoch < b.Epoch || a.Epoch == b.Epoch && a.Seq < b.Seq
}

// part is one partition's stored state; Deleted keeps a deletion's stamp
// so that an older write committing later does not bring it back.
type part struct {
	Stamp     Stamp            `json:"stamp"`
	Committed int64            `json:"committed"`
	Acked     []delivery.Range `json:"acked,omitempty"`
	Born      int64            `json:"born,omitempty"`
	Metadata  string           `json:"metadata,omitempty"` // a Kafka commit's
	Deleted   bool             `json:"deleted,omitempty"`
}

// group is one consumer group's stored state.
type group struct {
	Settings *groupstate.Saved
	Parts    map[delivery.TP]*part
	Classic  []byte // see Classic; nil: no classic members
	Active   int64  // see Command.Active; 0: none since it was stored or deleted
	// ActiveStamp orders the marks: the latest taken is kept.
	ActiveStamp Stamp
}

// State is one shard's state machine. The Raft host calls Apply, Snapshot
// and Restore from its loop; Groups and Claimed are read by the node's
// other goroutines, so mu guards everything below it.
type State struct {
	mu      sync.Mutex
	applied uint64
	claim   uint64 // epoch of the last claim applied
	// floor is the generation ceiling when the last claim applied, the
	// one its coordinator's groups start at; ceiling is past every
	// generation handed out under any claim (see Generations).
	floor, ceiling int64
	groups         map[string]*group // groups with settings or stored partitions
	deleted        map[string]Stamp  // group → its last deletion
	alive          int64             // see Command.Alive; 0: never
}

// New returns an empty shard.
func New() *State {
	return &State{groups: map[string]*group{}, deleted: map[string]Stamp{}}
}

// Apply applies one committed command; the result (nil or an error every
// replica agrees on) goes back to the proposer.
func (s *State) Apply(index uint64, cmd []byte) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied = index
	var c Command
	if err := json.Unmarshal(cmd, &c); err != nil {
		return fmt.Errorf("groupstore: entry %d: %w", index, err)
	}
	return s.applyLocked(c)
}

func (s *State) applyLocked(c Command) error {
	switch {
	case c.Claim != nil:
		if c.Claim.Epoch < s.claim {
			return ErrFenced
		}
		if c.Claim.Epoch > s.claim {
			// A new coordinator: its groups start past all that its
			// predecessors may have handed out, and it has a block of
			// its own. (A claim tried again under the same epoch, its
			// first try committed late, moves nothing: the coordinator
			// may have started on the first.)
			s.floor = s.ceiling
			s.ceiling = min(s.ceiling+GenerationBlock, MaxGeneration)
			// A tombstone keeps out the writes stamped before it, all
			// of an older epoch than this claim now: fenced by it
			// anyway. Kept, every group ever deleted (by offsets
			// retention too) stayed in the shard's memory and
			// snapshots for good.
			clear(s.deleted)
		}
		s.claim = c.Claim.Epoch
		return nil
	case c.Epoch < s.claim:
		return ErrFenced
	case len(c.Offsets) > 0:
		// len, not nil: Encode leaves an empty list out, so an entry's
		// "offsets":[] means what no list means (it made the entry a
		// no-op that dropped any settings beside it).
		for _, w := range c.Offsets {
			s.writeLocked(c.Group, c.Epoch, w)
		}
	case c.Settings != nil:
		g := s.groupLocked(c.Group)
		saved := *c.Settings
		g.Settings = &saved
	case c.Delete != nil:
		s.deleteLocked(c.Group, Stamp{c.Epoch, *c.Delete})
	case c.Classic != nil:
		if len(c.Classic.Members) > 0 {
			s.groupLocked(c.Group).Classic = c.Classic.Members
		} else if g := s.groups[c.Group]; g != nil {
			g.Classic = nil
			s.forgetIfEmptyLocked(c.Group, g)
		}
	case c.Generations != nil:
		if *c.Generations > MaxGeneration {
			return fmt.Errorf("groupstore: generations up to %d: past %d", *c.Generations, MaxGeneration)
		}
		s.ceiling = max(s.ceiling, *c.Generations)
	case c.Active != nil:
		// Only of a group stored (it keeps none alive), and not from
		// before its deletion.
		if d, ok := s.deleted[c.Group]; ok && (Stamp{c.Epoch, c.Active.Seq}).less(d) {
			return nil
		}
		st := Stamp{c.Epoch, c.Active.Seq}
		if g := s.groups[c.Group]; g != nil && !st.less(g.ActiveStamp) {
			g.Active, g.ActiveStamp = c.Active.At, st
		}
	case c.Alive != nil:
		s.alive = max(s.alive, *c.Alive)
	default:
		return fmt.Errorf("groupstore: empty command")
	}
	return nil
}

func (s *State) groupLocked(id string) *group {
	g := s.groups[id]
	if g == nil {
		g = &group{Parts: map[delivery.TP]*part{}}
		s.groups[id] = g
	}
	return g
}

// writeLocked stores w unless the group was deleted after it was taken or
// the partition holds a later write: the state depends only on the
// stamps, not on the order writes commit in (as in offsetstore).
func (s *State) writeLocked(id string, epoch uint64, w offsetstore.Write) {
	st := Stamp{epoch, w.Offset.Seq}
	if d, ok := s.deleted[id]; ok && st.less(d) {
		return
	}
	g := s.groupLocked(id)
	if old := g.Parts[w.TP]; old != nil && st.less(old.Stamp) {
		return
	}
	p := &part{Stamp: st, Deleted: w.Delete}
	if !w.Delete {
		p.Committed, p.Acked, p.Born, p.Metadata = w.Offset.Committed, w.Offset.Acked, w.Offset.Born, w.Offset.Metadata
	}
	g.Parts[w.TP] = p
}

// deleteLocked forgets group id's settings and the partitions written
// before st; one written after (taken after the deletion, committed
// before it) stays.
func (s *State) deleteLocked(id string, st Stamp) {
	if d, ok := s.deleted[id]; !ok || d.less(st) {
		s.deleted[id] = st
	}
	g := s.groups[id]
	if g == nil {
		return
	}
	g.Settings, g.Classic, g.Active, g.ActiveStamp = nil, nil, 0, Stamp{}
	for tp, p := range g.Parts {
		if p.Stamp.less(st) {
			delete(g.Parts, tp)
		}
	}
	s.forgetIfEmptyLocked(id, g)
}

// forgetIfEmptyLocked drops group id, g, once nothing of it is stored.
func (s *State) forgetIfEmptyLocked(id string, g *group) {
	if g.Settings == nil && len(g.Parts) == 0 && g.Classic == nil {
		delete(s.groups, id)
	}
}

// Generations returns where the groups of the last claim applied start
// (floor: at or above every generation handed out under earlier claims)
// and how far its coordinator may hand out generations (ceiling) before
// it must raise the ceiling with a Generations command. Both are 0 in a
// shard whose state predates them (restored from an older snapshot)
// until its next claim.
func (s *State) Generations() (floor, ceiling int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.floor, s.ceiling
}

// Claimed is the epoch of the last claim applied.
func (s *State) Claimed() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claim
}

// Groups returns the shard's groups as the coordinator restores them (the
// shapes of offsetstore.Store.Load and the broker's saved settings): each
// group's stored partitions (a group whose partitions were all deleted
// maps to an empty map; a group with settings only is absent) and the
// settings saved.
func (s *State) Groups() (map[string]map[delivery.TP]offsetstore.Offset, map[string]groupstate.Saved) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stored := map[string]map[delivery.TP]offsetstore.Offset{}
	saved := map[string]groupstate.Saved{}
	for id, g := range s.groups {
		if g.Settings != nil {
			saved[id] = *g.Settings
		}
		if len(g.Parts) == 0 {
			continue
		}
		parts := map[delivery.TP]offsetstore.Offset{}
		for tp, p := range g.Parts {
			if !p.Deleted {
				parts[tp] = offsetstore.Offset{Seq: p.Stamp.Seq, Committed: p.Committed, Acked: slices.Clone(p.Acked), Born: p.Born, Metadata: p.Metadata}
			}
		}
		stored[id] = parts
	}
	return stored, saved
}

// Clocks returns the offsets retention's clocks (the coordinator's
// groupexpiry.go): when the shard's coordinator last swept its groups
// (alive) and when each group that has a mark was last in use (unix ms).
func (s *State) Clocks() (alive int64, active map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	active = map[string]int64{}
	for id, g := range s.groups {
		if g.Active != 0 {
			active[id] = g.Active
		}
	}
	return s.alive, active
}

// ClassicMembers returns the classic membership of each group that has
// one (see Classic).
func (s *State) ClassicMembers() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for id, g := range s.groups {
		if g.Classic != nil {
			out[id] = slices.Clone(g.Classic)
		}
	}
	return out
}

// storedPart is a partition in a snapshot (a map keyed by a struct does
// not encode as JSON).
type storedPart struct {
	TP delivery.TP `json:"tp"`
	part
}

// snapshotGroup is a group in a snapshot.
type snapshotGroup struct {
	Settings *groupstate.Saved `json:"settings,omitempty"`
	Parts    []storedPart      `json:"parts,omitempty"`
	Classic  []byte            `json:"classic,omitempty"`
	Active   int64             `json:"active,omitempty"`
	ActiveAt *Stamp            `json:"active_stamp,omitempty"`
}

// snapshot is a snapshot's data.
type snapshot struct {
	Applied uint64                   `json:"applied"`
	Claim   uint64                   `json:"claim"`
	Floor   int64                    `json:"floor,omitempty"`   // absent before generations were kept
	Ceiling int64                    `json:"ceiling,omitempty"` // likewise
	Groups  map[string]snapshotGroup `json:"groups"`
	Deleted map[string]Stamp         `json:"deleted,omitempty"`
	Alive   int64                    `json:"alive,omitempty"`
}

// Snapshot encodes the whole shard.
func (s *State) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := snapshot{Applied: s.applied, Claim: s.claim, Floor: s.floor, Ceiling: s.ceiling, Groups: map[string]snapshotGroup{}, Deleted: s.deleted, Alive: s.alive}
	for id, g := range s.groups {
		sg := snapshotGroup{Settings: g.Settings, Classic: g.Classic, Active: g.Active}
		if g.Active != 0 {
			st := g.ActiveStamp
			sg.ActiveAt = &st
		}
		for _, tp := range slices.SortedFunc(maps.Keys(g.Parts), compareTP) {
			sg.Parts = append(sg.Parts, storedPart{TP: tp, part: *g.Parts[tp]})
		}
		snap.Groups[id] = sg
	}
	return json.Marshal(snap)
}

// Restore replaces the shard with a snapshot's (nil: empty).
func (s *State) Restore(data []byte) error {
	var snap snapshot
	if data != nil {
		if err := json.Unmarshal(data, &snap); err != nil {
			return fmt.Errorf("groupstore: snapshot: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied, s.claim = snap.Applied, snap.Claim
	s.floor, s.ceiling, s.alive = snap.Floor, snap.Ceiling, snap.Alive
	s.groups, s.deleted = map[string]*group{}, map[string]Stamp{}
	maps.Copy(s.deleted, snap.Deleted)
	for id, sg := range snap.Groups {
		g := &group{Settings: sg.Settings, Parts: map[delivery.TP]*part{}, Classic: sg.Classic, Active: sg.Active}
		if sg.ActiveAt != nil {
			g.ActiveStamp = *sg.ActiveAt
		}
		for _, sp := range sg.Parts {
			p := sp.part
			g.Parts[sp.TP] = &p
		}
		s.groups[id] = g
	}
	return nil
}

func compareTP(a, b delivery.TP) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}
