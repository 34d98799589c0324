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

// Lost partitions. A replica whose node has a newer generation than the
// replica's is forgotten: the node lost the disk it was on, and no message
// reaches that Raft identity again (multiraft.Host.Step drops them). A
// group can never elect a leader again once a majority of its voters is
// forgotten: no quorum can form to elect, and none to commit the change
// that would replace them. Which replicas vote is known here only for a
// group that can never have changed its configuration since placement:
// one of at most fixedVoters replicas. Such a group starts with its
// replicas at their placement generations (Partition.Gens, its bootstrap
// configuration), and only a committed configuration change alters its
// voters; the only change ever wanted (node.reconfigure) replaces a
// node's forgotten replica with its new one, it exists only once a voter
// is forgotten, and with at most two voters it needs that voter to
// commit. Larger groups are replaced voter by voter while a majority
// lives, so their placement generations no longer say who votes, and the
// rule says nothing of them.

// fixedVoters is the most replicas a partition's group can have and never
// change its voters (see above).
const fixedVoters = 2

// Lost returns the replicas of p (node IDs, in replica order) that are
// forgotten, when p's group can provably never elect a leader again; nil
// otherwise. A metadata that is behind knows fewer generations and so at
// worst finds nothing: generations only grow.
func (s *Store) Lost(p Partition) []uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return lostReplicas(p, func(id uint64) uint64 {
		if g, ok := s.d.Gens[id]; ok {
			return g.Gen
		}
		return 0
	})
}

// lostReplicas is Lost's rule, gen giving each node's current
// generation.
func lostReplicas(p Partition, gen func(node uint64) uint64) []uint64 {
	if len(p.Replicas) > fixedVoters {
		return nil
	}
	var lost []uint64
	for i, id := range p.Replicas {
		var placed uint64
		if i < len(p.Gens) {
			placed = p.Gens[i]
		}
		if gen(id) > placed {
			lost = append(lost, id)
		}
	}
	// With one or two voters a quorum is all of them: one forgotten is
	// enough.
	return lost
}
