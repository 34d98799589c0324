// Package groupstate owns one consumer group's whole decided state: its
// membership (a group.Group), its per-message delivery state (a
// delivery.Group) and what the broker decided beside them — the delivery
// settings fixed by the creating member and saved for the next one, the
// offset_reset policy, where each subscription started (high watermarks when
// first subscribed), the identity of stored offsets (the created_at of the
// topic they are of), the dead-letter retry backoff, which long polls a
// rebalance must nudge, and the peer host of each member.
//
// A Group is a deterministic aggregate: it takes commands and the time now,
// and returns results and Effects. It does no I/O, reads no clock, starts no
// goroutine and draws no random numbers, and everything it returns is in a
// defined order, so the same commands in the same order give the same state
// and effects — what a replicated state machine needs. What the world knows
// (topics, their partitions, offsets and created_at) comes in as command
// arguments (Topics), read by the caller before it takes the group's lock.
//
// The caller (the broker's coordinator) serialises the commands of one group
// under one lock, and performs the Effects after releasing it: offsets to
// persist, dead letters to write to the DLQ (then reporting back with
// DeadLetterWritten or DeadLetterFailed), records to read for a poll, long
// polls to wake and the next deadline at which to call Tick. The package
// does not own the records, the DLQ topics, or the files offsets are kept in.
package groupstate
