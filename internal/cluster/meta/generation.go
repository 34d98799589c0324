package meta

import (
	"fmt"
	"math"
)

// Generations of a node's Raft replicas. A node whose disk was lost (or
// replaced) forgot its votes and its log, so it must never act again under
// the Raft identity it had: it asks for a new generation (Rejoin), and its
// replicas in every group are new members (multiraft.ReplicaID of its ID
// and the generation), added by each group's leader and caught up before
// they vote. The metadata hands generations out so that two starts never
// get the same one. A node that never rejoined is at generation 0.

// Rejoin gives node ID a new generation. Boot is the asking process's
// random start nonce: applied again with the same Boot (a retry whose
// first attempt was not lost after all) it changes nothing.
type Rejoin struct {
	ID   uint64 `json:"id"`
	Boot uint64 `json:"boot"`
}

// Generation is a node's current generation and the Boot that asked for it.
type Generation struct {
	Gen  uint64 `json:"gen"`
	Boot uint64 `json:"boot"`
}

func (s *Store) rejoinLocked(r Rejoin) Result {
	if r.ID == 0 || r.Boot == 0 {
		return Result{Err: fmt.Errorf("%w: rejoin needs a node ID and a boot nonce", ErrInvalid)}
	}
	if s.d.Gens == nil {
		s.d.Gens = map[uint64]*Generation{}
	}
	g, ok := s.d.Gens[r.ID]
	switch {
	case !ok:
		s.d.Gens[r.ID] = &Generation{Gen: 1, Boot: r.Boot}
	case g.Boot != r.Boot && g.Gen == math.MaxUint64:
		return Result{Err: fmt.Errorf("%w: generation of node %d", ErrExhausted, r.ID)}
	case g.Boot != r.Boot:
		g.Gen, g.Boot = g.Gen+1, r.Boot
	}
	return Result{}
}

// Generation returns node id's current generation (zero for a node that
// never rejoined).
func (s *Store) Generation(id uint64) Generation {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if g, ok := s.d.Gens[id]; ok {
		return *g
	}
	return Generation{}
}

// gensLocked returns the current generation of each of nodes, or nil when
// all are 0 (so placements made before any rejoin encode as before).
func (s *Store) gensLocked(nodes []uint64) []uint64 {
	out := make([]uint64, len(nodes))
	some := false
	for i, id := range nodes {
		if g, ok := s.d.Gens[id]; ok {
			out[i], some = g.Gen, true
		}
	}
	if !some {
		return nil
	}
	return out
}
