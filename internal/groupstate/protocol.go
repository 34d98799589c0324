package groupstate

import (
	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/group"
)

// A group speaks one protocol at a time, and the group decides which in
// the same command as a join: members of GoQueue's HTTP API and of
// Kafka's KIP-848 protocol are the group's own (the protocol of the join
// that created it is saved with its settings, so it outlives a restart);
// a classic Kafka group (JoinGroup/SyncGroup) is coordinated by the Kafka
// front end, which holds the group here while it has members.

// Protocols of a group's own members, as saved with its settings.
const (
	ProtocolHTTP     = ""         // GoQueue's HTTP API
	ProtocolConsumer = "consumer" // Kafka's KIP-848 ConsumerGroupHeartbeat
)

// checkProtocol refuses a join in proto into a group whose members speak
// another: one held by classic Kafka members, or one with members of the
// other protocol.
func (a *Group) checkProtocol(proto string) error {
	switch {
	case a.classic:
		return inconsistentProtocol(a.id, "classic Kafka")
	case !a.g.Empty() && a.saved.Protocol != proto:
		return inconsistentProtocol(a.id, protocolName(a.saved.Protocol))
	}
	return nil
}

// HoldClassic marks the group as run by classic Kafka members: joins of
// its own protocols are refused, and so is its deletion, until
// ReleaseClassic. Errors: INCONSISTENT_GROUP_PROTOCOL when it has members
// of its own, GROUP_NOT_FOUND when it was deleted.
func (a *Group) HoldClassic() error {
	if a.g.State() == group.StateDead {
		return api.ErrGroupNotFound.Withf("group %q was deleted", a.id).WithDetail("group", a.id)
	}
	if !a.g.Empty() {
		return inconsistentProtocol(a.id, protocolName(a.saved.Protocol))
	}
	a.classic, a.wasClassic = true, true
	return nil
}

// ReleaseClassic ends HoldClassic: the last classic member left.
func (a *Group) ReleaseClassic() { a.classic = false }

// HeldClassic reports whether the group is held (HoldClassic).
func (a *Group) HeldClassic() bool { return a.classic }

// Blank reports whether the group holds nothing a client could miss: no
// member and no hold, never a generation, no partition state (offsets,
// acknowledgements) and no saved settings. It is what a classic join that
// added no member leaves (see coordinator.ForgetBlankGroup).
func (a *Group) Blank() bool {
	return !a.classic && a.g.Empty() && a.g.Generation() == 0 && len(a.d.Partitions()) == 0 &&
		len(a.meta) == 0 && a.saved == (Saved{})
}

// Unkept reports whether the group holds nothing a restart keeps: no
// member and no hold, no partition state (offsets, acknowledgements) and
// no saved settings. It is what the last member of a group that never
// committed leaves (see coordinator.forgetUnkeptGroup); what it has
// beyond Blank, its generation and rebalance history, a restart forgets.
// A group classic Kafka members ever held is not: the Kafka front end's
// group goes on from its generations, and forgets it (ForgetBlankGroup).
func (a *Group) Unkept() bool {
	return !a.classic && !a.wasClassic && a.g.Empty() && len(a.d.Partitions()) == 0 && len(a.meta) == 0 && a.saved == (Saved{})
}

// GoOnFrom raises the generation of the group, empty, to gen
// (group.Group.GoOnFrom).
func (a *Group) GoOnFrom(gen int64) { a.g.GoOnFrom(gen) }

// RecordClassicRebalance counts r, a closed rebalance of the group's
// classic members, in its rebalance history and generation
// (group.Group.RecordExternal). It counts nothing, and returns false,
// unless the group is held (HoldClassic) and has no members of its own: r
// is then a stale front end's (in a cluster, one whose group moved away
// and back while it still ran members of it).
func (a *Group) RecordClassicRebalance(r api.Rebalance) bool {
	if !a.classic || !a.g.Empty() {
		return false
	}
	a.g.RecordExternal(r)
	return true
}

// Protocol returns the protocol of the join that created the group (kept
// while it is empty and across restarts).
func (a *Group) Protocol() string { return a.saved.Protocol }

func inconsistentProtocol(groupID, have string) error {
	return api.ErrInconsistentProtocol.Withf("group %q has %s members; a group speaks one protocol at a time", groupID, have).
		WithDetail("group", groupID)
}

func protocolName(p string) string {
	switch p {
	case ProtocolHTTP:
		return "HTTP"
	case ProtocolConsumer:
		return "Kafka (KIP-848)"
	}
	return p
}
