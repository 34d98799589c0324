package coordinator

import (
	"maps"
	"slices"
)

// A classic Kafka group's membership (members, generation, assignments)
// is the Kafka front end's soft state. On a cluster node it is also
// replicated with the group, as Kafka keeps it in its offsets log, so
// that when the group's coordinator moves (a node dies, or gets its
// groups back when it returns) the next coordinator goes on with the same
// members and generation: they only look the coordinator up again,
// rather than rejoining as strangers and rewinding to their last commit.
// The coordinator keeps it opaque: the front end encodes and decodes it.

// ClassicHold is a hold of a group by classic Kafka members
// (HoldClassicGroup).
type ClassicHold struct {
	// Generation is the group's, which the classic members' generations
	// go on from.
	Generation int64
	// Token names the hold: SaveClassicMembers writes only for the
	// group's current hold, so a front end's state of a group it has
	// since lost (and perhaps got back) cannot overwrite the newer one.
	Token uint64
}

// SaveClassicMembers replicates members, the classic membership of a group
// held under hold (empty: it has none), on a cluster node; on a single
// broker it does nothing (the membership is soft state there, as it was).
// It returns once a majority has it. A save under a hold that has ended
// is dropped, except an empty one while the group is held by nobody: its
// front end saved it as the group emptied, and released the hold at once
// (and may have held and released it again since, for a join answered
// MEMBER_ID_REQUIRED). Errors: NOT_COORDINATOR, GROUP_NOT_FOUND, and
// those of the replicated writes (NOT_COORDINATOR, UNAVAILABLE).
func (c *Coordinator) SaveClassicMembers(groupID string, token uint64, members []byte) error {
	if c.repl == nil {
		return nil
	}
	cg, err := c.lookup(groupID)
	if err != nil {
		return err
	}
	cg.mu.Lock()
	current := token != 0 && token == cg.classicHold || len(members) == 0 && cg.classicHold == 0
	cg.mu.Unlock()
	if !current {
		return nil // a stale front end's: the current hold's saves are the group's
	}
	return c.repl.SaveClassic(groupID, cg.epoch, members)
}

// AdoptedClassicGroups lists the groups whose classic membership this node
// adopted and its front end has not taken yet: it restores them at once,
// so that they show their members, are refused deletion and offset resets
// over HTTP, and their members' sessions run, before their first request
// (a helper deleted a live group over HTTP in that window, and its members
// read 3,935 of 5,000 messages again).
func (c *Coordinator) AdoptedClassicGroups() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Collect(maps.Keys(c.adoptedClassic))
}

// AdoptedClassicMembers hands the front end the classic membership this
// node adopted with groupID (Adopt), once, holding the group for it as
// HoldClassicGroup does; false if there is none, or the hold is refused
// (members of another protocol joined the group first).
func (c *Coordinator) AdoptedClassicMembers(groupID string) ([]byte, ClassicHold, bool) {
	c.mu.Lock()
	members, ok := c.adoptedClassic[groupID]
	delete(c.adoptedClassic, groupID)
	c.mu.Unlock()
	if !ok {
		return nil, ClassicHold{}, false
	}
	hold, err := c.HoldClassicGroup(groupID)
	if err != nil {
		c.log.Warn("classic members of an adopted group not restored", "group", groupID, "err", err)
		return nil, ClassicHold{}, false
	}
	return members, hold, true
}
