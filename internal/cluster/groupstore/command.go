package groupstore

import (
	"encoding/json"

	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// Command is one entry of a shard's Raft log: exactly one of Claim,
// Offsets, Settings and Delete. Group and Epoch name the group and the
// epoch of the claim its coordinator writes under (not used by Claim).
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
}

// Claim is a new coordinator's claim of a shard under Epoch (its Raft
// term, which grows with every election).
type Claim struct {
	Epoch uint64 `json:"epoch"`
}

// Encode encodes c for a proposal.
func (c Command) Encode() ([]byte, error) { return json.Marshal(c) }
