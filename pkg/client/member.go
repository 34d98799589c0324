package client

import (
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// tp is one topic partition.
type tp struct {
	topic     string
	partition int32
}

// pendingNack is a negative acknowledgement waiting to be sent.
type pendingNack struct {
	ref  api.MessageRef
	opts NackOptions
}

// memberState is what a Consumer knows of its membership and the messages
// it holds. It is guarded by Consumer.mu; its methods ending in Locked
// expect that lock held.
type memberState struct {
	closed     bool
	joined     bool
	member     string
	generation int64
	// session counts joins. Messages carry the session that handed them
	// out, so a message of an earlier membership is never acknowledged
	// under a new one.
	session    uint64
	hbInterval time.Duration
	nextHB     time.Time
	revokeWait time.Duration // how long a revoked partition may wait for its held messages

	owned    map[tp]bool      // every partition owned, revoking ones included
	revoking map[tp]time.Time // owned partitions to release, with the release deadline
	// released holds partitions given back in this session and not assigned
	// again since: a poll answer that crossed the release may still carry
	// their messages, which now belong to the next owner.
	released map[tp]bool

	held    map[api.MessageRef]struct{} // handed out by Poll, not yet settled
	heldPer map[tp]int                  // len(held) per partition
	// consumed holds, under AutoCommit, what earlier polls returned: acked
	// at the next auto-commit, revocation or Close.
	consumed []api.MessageRef
	acks     []api.MessageRef // to send
	nacks    []pendingNack    // to send
}

func newMemberState() memberState {
	s := memberState{}
	s.resetLocked()
	return s
}

// resetLocked forgets the membership and everything held under it.
func (s *memberState) resetLocked() {
	s.joined, s.member, s.generation = false, "", 0
	s.owned = make(map[tp]bool)
	s.revoking = make(map[tp]time.Time)
	s.released = make(map[tp]bool)
	s.held = make(map[api.MessageRef]struct{})
	s.heldPer = make(map[tp]int)
	s.consumed, s.acks, s.nacks = nil, nil, nil
}

// holdLocked records a message handed out.
func (s *memberState) holdLocked(k tp, ref api.MessageRef) {
	if _, ok := s.held[ref]; ok {
		return // redelivered while still held: one settlement covers both
	}
	s.held[ref] = struct{}{}
	s.heldPer[k]++
}

// settleLocked queues an ack (nack nil) or nack of ref. It reports whether
// this drained a partition being revoked.
func (s *memberState) settleLocked(ref api.MessageRef, nack *NackOptions) bool {
	k := tp{ref.Topic, ref.Partition}
	if _, ok := s.held[ref]; !ok {
		return false // settled already (or consumed under AutoCommit)
	}
	delete(s.held, ref)
	s.heldPer[k]--
	if nack != nil {
		s.nacks = append(s.nacks, pendingNack{ref, *nack})
	} else {
		s.acks = append(s.acks, ref)
	}
	_, revoking := s.revoking[k]
	return revoking && s.heldPer[k] == 0
}

// consumedLocked moves everything held to consumed: under AutoCommit a
// new Poll means the previous ones were processed.
func (s *memberState) consumedLocked() {
	for ref := range s.held {
		s.consumed = append(s.consumed, ref)
	}
	clear(s.held)
	clear(s.heldPer)
}

// settleAllLocked queues acks of everything held or consumed.
func (s *memberState) settleAllLocked() {
	s.consumedLocked()
	s.acks = append(s.acks, s.consumed...)
	s.consumed = nil
}

// releaseLocked forgets partitions released to the broker, with the
// messages of them still held: the broker redelivers those elsewhere.
func (s *memberState) releaseLocked(parts []tp) {
	gone := make(map[tp]bool, len(parts))
	for _, k := range parts {
		gone[k] = true
		delete(s.owned, k)
		delete(s.revoking, k)
		delete(s.heldPer, k)
		s.released[k] = true
	}
	for ref := range s.held {
		if gone[tp{ref.Topic, ref.Partition}] {
			delete(s.held, ref)
		}
	}
}

// drainedLocked lists revoking partitions ready to release: nothing held,
// or past their deadline.
func (s *memberState) drainedLocked(now time.Time) []tp {
	var out []tp
	for k, deadline := range s.revoking {
		if s.heldPer[k] == 0 || !now.Before(deadline) {
			out = append(out, k)
		}
	}
	return out
}

// ownedAssignmentLocked is owned as an Assignment.
func (s *memberState) ownedAssignmentLocked() api.Assignment {
	var a api.Assignment
	for k := range s.owned {
		a = addTo(a, k)
	}
	sortAssignment(a)
	return a
}
