package client

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
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
	// under a new one. It counts from firstSession, random and immutable
	// after newMemberState, so that a message another Consumer handed
	// out (of another group, whose offsets this member may hold too) or a
	// fetched one (0) is told from one of this consumer's earlier sessions.
	session      uint64
	firstSession uint64
	hbInterval   time.Duration
	nextHB       time.Time
	revokeWait   time.Duration // how long a revoked partition may wait for its held messages
	// confirmed is when the last join or heartbeat the broker answered
	// was sent: the broker keeps the member at least sessionTimeout
	// from then (it counts the session from when it took the request).
	confirmed      time.Time
	sessionTimeout time.Duration

	owned    map[tp]bool      // every partition owned, revoking ones included
	revoking map[tp]time.Time // owned partitions to release, with the release deadline
	// released holds partitions given back in this session and not assigned
	// again since: a poll answer that crossed the release may still carry
	// their messages, which now belong to the next owner.
	released map[tp]bool
	// releases counts the releases of this session, and releasedAt holds,
	// per partition given back, the count at its last release. A poll
	// remembers the count it was sent at: messages of a partition released
	// since may have been handed out before the release, which took them
	// back, even if the partition is this member's again by the answer.
	releases   uint64
	releasedAt map[tp]uint64
	// announcing counts, per partition, the OnAssigned calls that will
	// announce it and have not returned yet (Consumer.announce). A
	// heartbeat or join marks a partition owned before its OnAssigned
	// runs (it must report it owned from then on, or the broker takes it
	// back), so ownership alone does not say that the application was told:
	// Poll keeps the messages of such a partition back until then (accept).
	announcing map[tp]int

	// parts holds, per partition, the offsets handed out by Poll and not
	// yet settled, the acknowledgements to send and, under AutoCommit, what
	// earlier polls returned (acked at the next auto-commit, revocation or
	// Close).
	parts     map[tp]*partState
	hint      partHint // the partition settled last, if owned
	consumedN int      // offsets moved to consumed since it was last sent
	ackedN    int      // acknowledgements queued since they were last taken (ackBatch)
	// maxInFlight is the member's in-flight cap as its join's answer told
	// (0: not told); kept across resetLocked until the next join's answer.
	maxInFlight int
	nacks       []pendingNack // to send
	// unsent counts the acknowledged (and, under AutoCommit, consumed)
	// offsets dropped unsent with a membership that ended, since the
	// last Commit, CommitAll or Close took the count: those calls report
	// them (takeUnsentLocked) rather than answer as if all were
	// committed. Kept across resetLocked.
	unsent int64
	// lost counts, in the same way, the acknowledgements the broker
	// refused as lost (api.AckLost: their messages are delivered again).
	lost int64

	// ahead holds messages polled ahead of the application (pollahead.go),
	// in the order polled, all of this session, and aheadRaw the answers
	// polled after them that are not decoded yet; aheadAt is when the
	// oldest of them arrived.
	ahead    []*Message
	aheadRaw []rawAnswer
	aheadAt  time.Time
	// kept holds, per partition, messages polled that accept kept back
	// (announcing), in order, and keptN how many in all. They count as
	// polled ahead (aheadLenLocked), and go back or are forgotten with
	// those, but wait apart: at the front of ahead they hid the messages
	// of other partitions behind them from Poll, which then polled the
	// broker for newer ones of those. No message of a partition is handed
	// out while it has some here (accept), and once its OnAssigned
	// returned they are handed out first (takeKeptLocked).
	kept  map[tp][]*Message
	keptN int
}

// rawAnswer is a stored-batches poll answer not decoded yet (its frames
// checked), and how many messages it names.
type rawAnswer struct {
	body []byte
	n    int
}

// aheadLenLocked is how many messages are polled ahead, decoded or not,
// kept back included.
func (s *memberState) aheadLenLocked() int {
	n := len(s.ahead) + s.keptN
	for _, r := range s.aheadRaw {
		n += r.n
	}
	return n
}

// decodeAheadLocked decodes the answers polled ahead that are not yet,
// for what looks at messages one by one (a release, a hand-back). An
// answer that does not decode is dropped, as a poll whose answer did not
// read is: the broker delivers its messages again after the visibility
// timeout.
func (s *memberState) decodeAheadLocked() {
	for _, r := range s.aheadRaw {
		if msgs, err := decodePollStored(r.body); err == nil {
			s.ahead = append(s.ahead, msgs...)
		}
	}
	s.aheadRaw = nil
}

// mayBeExpiredLocked reports whether the broker may have ended this
// membership for want of heartbeats by now: messages polled ahead must not
// be handed out then, as the broker may have given their partitions (and
// them) to another member.
func (s *memberState) mayBeExpiredLocked(now time.Time) bool {
	return s.sessionTimeout > 0 && !now.Before(s.confirmed.Add(s.sessionTimeout))
}

func newMemberState() memberState {
	first := rand.Uint64()>>1 + 1 // never 0, and never wraps
	s := memberState{session: first, firstSession: first}
	s.resetLocked()
	return s
}

// handedOutLocked reports whether a message of session gen was handed out
// by this consumer.
func (s *memberState) handedOutLocked(gen uint64) bool {
	return gen > s.firstSession && gen <= s.session
}

// resetLocked forgets the membership and everything held under it,
// counting the acknowledgements it drops unsent.
func (s *memberState) resetLocked() {
	for _, p := range s.parts {
		s.unsent += p.acks.count() + p.consumed.count()
	}
	s.joined, s.member, s.generation = false, "", 0
	s.owned = make(map[tp]bool)
	s.revoking = make(map[tp]time.Time)
	s.released = make(map[tp]bool)
	s.releases, s.releasedAt = 0, make(map[tp]uint64)
	s.announcing = make(map[tp]int)
	s.parts = make(map[tp]*partState)
	s.hint = partHint{}
	s.consumedN, s.ackedN, s.nacks = 0, 0, nil
	s.ahead, s.aheadRaw = nil, nil // the broker released them with the membership
	s.kept, s.keptN = make(map[tp][]*Message), 0
}

// partLocked is k's state, created if new.
func (s *memberState) partLocked(k tp) *partState {
	p := s.parts[k]
	if p == nil {
		p = &partState{}
		s.parts[k] = p
	}
	return p
}

// heldLocked is how many messages of k are held.
func (s *memberState) heldLocked(k tp) int {
	if p := s.parts[k]; p != nil {
		return p.held.live
	}
	return 0
}

// unackedLocked is how many messages the broker counts against this
// member's in-flight cap once the acknowledgements queued are sent: those
// held, those polled ahead, and under AutoCommit those consumed (unless
// committed with them).
func (s *memberState) unackedLocked(committing bool) int {
	n := s.aheadLenLocked()
	for _, p := range s.parts {
		n += p.held.live
	}
	if !committing {
		n += s.consumedN
	}
	return n
}

// handBackAheadLocked queues the hand-back of the messages polled ahead.
func (s *memberState) handBackAheadLocked() {
	s.decodeAheadLocked()
	for _, m := range s.ahead {
		s.nacks = append(s.nacks, pendingNack{m.ref(), NackOptions{Requeue: true, release: true}})
	}
	s.ahead = nil
	for k, msgs := range s.kept {
		for _, m := range msgs {
			s.nacks = append(s.nacks, pendingNack{m.ref(), NackOptions{Requeue: true, release: true}})
		}
		delete(s.kept, k)
	}
	s.keptN = 0
}

// takeKeptLocked hands out up to n (n <= 0: all) of the messages kept
// back of partitions whose OnAssigned has returned, as accept would
// (they are of this session, and a release forgot those of its
// partitions), before anything else of theirs. Those of a partition
// being revoked stay: its release forgets them, or they are handed out
// if the broker takes the revocation back.
func (s *memberState) takeKeptLocked(n int) []*Message {
	if s.keptN == 0 {
		return nil
	}
	var out []*Message
	for k, msgs := range s.kept {
		if _, revoking := s.revoking[k]; revoking || s.announcing[k] > 0 {
			continue
		}
		take := len(msgs)
		if n > 0 {
			take = min(take, n-len(out))
		}
		p := s.partLocked(k)
		for _, m := range msgs[:take] {
			m.gen = s.session
			p.held.add(m.Offset)
		}
		out = append(out, msgs[:take]...)
		clear(msgs[:take])
		if s.keptN -= take; take == len(msgs) {
			delete(s.kept, k)
		} else {
			s.kept[k] = msgs[take:]
		}
		if n > 0 && len(out) == n {
			break
		}
	}
	return out
}

// ownsLocked reports whether k is owned, remembering k's state in hint:
// an application acknowledges runs of messages of one partition, and
// settling each of them then costs no map lookup.
func (s *memberState) ownsLocked(k tp) bool {
	if s.hint.p != nil && s.hint.k == k {
		return true
	}
	if !s.owned[k] {
		return false
	}
	if p := s.parts[k]; p != nil {
		s.hint = partHint{k, p}
	}
	return true
}

// partHint is a partition owned and its state. Invariant: if p is set,
// owned[k] and parts[k] == p. Ownership ends and a partState is replaced
// only in releaseLocked and resetLocked (partLocked creates one only where
// none is), and they clear it.
type partHint struct {
	k tp
	p *partState
}

// settleLocked queues an ack (nack nil) or nack of offset off of k. It
// reports whether this drained a partition being revoked.
func (s *memberState) settleLocked(k tp, off int64, nack *NackOptions) bool {
	p := s.hint.p
	if p == nil || s.hint.k != k {
		p = s.parts[k]
	}
	if p == nil || !p.held.remove(off) {
		return false // settled already (or consumed under AutoCommit)
	}
	if nack != nil {
		s.nacks = append(s.nacks, pendingNack{api.MessageRef{Topic: k.topic, Partition: k.partition, Offset: off}, *nack})
	} else {
		p.acks.add(off, off+1)
		s.ackedN++
	}
	if p.held.live > 0 {
		return false
	}
	_, revoking := s.revoking[k]
	return revoking
}

// consumedLocked moves everything held to consumed: under AutoCommit a
// new Poll means the previous ones were processed.
func (s *memberState) consumedLocked() {
	for _, p := range s.parts {
		if p.held.live == 0 {
			continue
		}
		s.consumedN += p.held.live
		p.held.each(func(off int64) { p.consumed.add(off, off+1) })
		p.held.clear()
	}
}

// settleAllLocked queues acks of everything held or consumed.
func (s *memberState) settleAllLocked() {
	s.consumedLocked()
	for _, p := range s.parts {
		for _, sp := range p.consumed {
			p.acks.add(sp.from, sp.to)
		}
		p.consumed = p.consumed[:0]
	}
	s.consumedN = 0
}

// releaseLocked forgets partitions released to the broker, with the
// messages of them still held: the broker redelivers those elsewhere.
// Their acknowledgements not yet sent stay queued.
func (s *memberState) releaseLocked(parts []tp) {
	// The release hands off the messages polled ahead of these partitions
	// too: forget them.
	s.decodeAheadLocked()
	kept := s.ahead[:0]
	for _, m := range s.ahead {
		if !slices.Contains(parts, tp{m.Topic, m.Partition}) {
			kept = append(kept, m)
		}
	}
	clear(s.ahead[len(kept):])
	s.ahead = kept
	s.hint = partHint{}
	s.releases++
	for _, k := range parts {
		s.keptN -= len(s.kept[k])
		delete(s.kept, k)
		delete(s.owned, k)
		delete(s.revoking, k)
		s.released[k] = true
		s.releasedAt[k] = s.releases
		if p := s.parts[k]; p != nil {
			p.held.clear()
			if len(p.acks) == 0 && len(p.consumed) == 0 {
				delete(s.parts, k)
			}
		}
	}
}

// announcedLocked counts down, for each of parts, an OnAssigned call
// that announced it (see announcing).
func (s *memberState) announcedLocked(parts []tp) {
	for _, k := range parts {
		if n := s.announcing[k]; n > 1 {
			s.announcing[k] = n - 1
		} else {
			delete(s.announcing, k)
		}
	}
}

// releasedSinceLocked reports whether k was released after the count of
// releases was since.
func (s *memberState) releasedSinceLocked(k tp, since uint64) bool {
	return s.releasedAt[k] > since
}

// dropReleasedSinceLocked filters msgs in place, leaving out those of
// partitions released after the count of releases was since.
func (s *memberState) dropReleasedSinceLocked(msgs []*Message, since uint64) []*Message {
	kept := msgs[:0]
	for _, m := range msgs {
		if !s.releasedSinceLocked(tp{m.Topic, m.Partition}, since) {
			kept = append(kept, m)
		}
	}
	clear(msgs[len(kept):])
	return kept
}

// drainedLocked lists revoking partitions ready to release: nothing held,
// or past their deadline.
func (s *memberState) drainedLocked(now time.Time) []tp {
	var out []tp
	for k, deadline := range s.revoking {
		if s.heldLocked(k) == 0 || !now.Before(deadline) {
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

// takeUnsentLocked returns, as an error wrapping ErrRevoked, the
// acknowledgements dropped unsent since it was last called, and, wrapping
// ErrAckLost, those the broker refused as lost; nil if none.
func (s *memberState) takeUnsentLocked() error {
	unsent, lost := s.unsent, s.lost
	s.unsent, s.lost = 0, 0
	var errs []error
	if unsent > 0 {
		errs = append(errs, fmt.Errorf("%w: %d acknowledged messages were not committed: the membership ended before they were sent, so they will be delivered again", ErrRevoked, unsent))
	}
	if lost > 0 {
		errs = append(errs, &AckLostError{Count: lost})
	}
	return errors.Join(errs...)
}

func (s *memberState) dropUnsentLocked(acks []api.OffsetRange) {
	for _, r := range acks {
		s.unsent += r.To - r.From
	}
}
