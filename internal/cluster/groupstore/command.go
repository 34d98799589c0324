package groupstore

import (
	"encoding/json"

	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// Command is one entry of a shard's Raft log: exactly one of Claim,
// Offsets, Settings, Delete, Classic, Generations, Active and Alive. Group
// and Epoch name the group and the epoch of the claim its coordinator
// writes under (not used by Claim; Generations and Alive name a group of
// the shard only to be routed to it).
type Command struct {
	Group string `json:"group,omitempty"`
	Epoch uint64 `json:"epoch,omitempty"`

	// Claim makes its epoch the shard's: a new leader's first entry.
	Claim *Claim `json:"claim,omitempty"`
	// Offsets are partitions' states to store (or, with Delete, forget),
	// each ordered by its Seq within Epoch.
	Offsets []offsetstore.Write `json:"offsets,omitempty"`
	// Settings are what the group's creating join fixed.
	Settings *groupstate.Saved `json:"settings,omitempty"`
	// Delete forgets the group: its settings and the partitions written
	// before (Epoch, *Delete).
	Delete *uint64 `json:"delete,omitempty"`
	// Classic replaces the group's classic Kafka membership.
	Classic *Classic `json:"classic,omitempty"`
	// Generations raises the shard's generation ceiling to this (see
	// State.Generations): its coordinator hands out no generation above
	// the ceiling before such a raise is applied.
	Generations *int64 `json:"generations,omitempty"`
	// Active is when the group was last in use, for the offsets
	// retention (see State.Clocks).
	Active *Active `json:"active,omitempty"`
	// Alive is when the shard's coordinator last swept its groups for
	// the offsets retention (unix ms; see State.Clocks).
	Alive *int64 `json:"alive,omitempty"`
}

// Active is a group's last use (At, unix ms; -1: it had members) as its
// coordinator took it, at Seq (offsetstore.Store.Next) within the
// command's epoch: the latest stamped is kept, a deletion stamped after
// it forgets it, and it does not outlive one.
type Active struct {
	Seq uint64 `json:"s"`
	At  int64  `json:"at"`
}

// Classic is a group's classic Kafka membership as the Kafka front end
// encodes it (opaque here): what it needs to go on with the same members
// and generation on the next coordinator, as Kafka keeps it in its
// offsets log. Empty: the group has no classic members.
type Classic struct {
	Members []byte `json:"members,omitempty"`
}

// Claim is a new coordinator's claim of a shard under Epoch (its Raft
// term, which grows with every election).
type Claim struct {
	Epoch uint64 `json:"epoch"`
}

// Encode encodes c for a proposal.
func (c Command) Encode() ([]byte, error) { return json.Marshal(c) }
