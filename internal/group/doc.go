// Package group owns the membership of one consumer group: its members, the
// group epoch (the generation), the target assignment computed by
// internal/assign, each member's reconciliation toward that target, fencing,
// and the record of rebalances.
//
// It does not own committed offsets or per-message delivery; the broker keeps
// those and asks a Group who owns what (CheckOwner, Owner, DrainReleased).
//
// The package is pure: no I/O, no goroutines, no clocks. Every method that
// depends on time takes now. A Group is not safe for concurrent use: its owner
// serializes all calls and calls Tick at NextDeadline, so a group is never
// stuck waiting for a timer nobody runs.
//
// # Protocol
//
// Assignment is server-side with per-member reconciliation, as in Kafka's
// KIP-848. Every change of membership, subscription or partition counts bumps
// the epoch and computes a new target. A member owns a partition from the
// moment a response tells it that it may (join or heartbeat answer) until a
// heartbeat's owned partitions omit it, or until the member is removed. A
// partition is handed to a member only when no other member owns it, so no
// partition ever has two owners, also during a handoff.
//
// With cooperative-sticky a member may own
//
//	(owned ∩ target) ∪ {p ∈ target | nobody owns p}
//
// and must revoke owned − target; partitions that do not move never pause.
// The eager strategies (range, roundrobin, sticky) add a barrier after every
// bump: nothing is handed out until every member has released everything.
//
// The previous assignment a new target is computed from (what sticky
// strategies preserve) is what members hold, not the last target: what each
// owns, what it released only for an eager barrier, and a departed static
// member's reservation. A member that has not yet taken what a target
// promised it has lost nothing if another change gives it elsewhere.
//
// HeartbeatDue tells the owner when a member's next heartbeat would change
// its assignment, so that the member can be told to heartbeat at once.
package group
