package client

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// Polling ahead: once Poll hands messages to the application, the consumer's
// poller goroutine sends the acknowledgements pending and asks the broker
// for the next messages while the application processes these, so client
// and broker work at once and the next Poll usually finds its messages
// here. The messages polled ahead wait in memberState.ahead, in flight for
// this member at the broker but not yet handed out: they are not held (an
// acknowledgement, AutoCommit or a revocation's drain never counts them),
// and they are handed back (a nack with release: delivered again at once,
// no retry spent) when Poll finds them for a partition that is no longer
// this member's, or when the application has not called Poll for half the
// visibility timeout, before the broker would count them as a failed
// delivery. A release of a partition hands its messages polled ahead back
// with it.

// aheadJob is one round of the poller: a flush, then, if want > 0, a poll
// of up to want messages that does not wait for messages to arrive (a poll
// ahead that waited would hold up the next Poll when there is nothing to
// read; that Poll long-polls itself).
type aheadJob struct {
	sess   uint64
	want   int
	commit bool          // flush what AutoCommit counts as processed too
	done   chan struct{} // closed when the round is over
}

// defaultVisibilityTimeout is the broker's default visibility timeout
// (api.JoinRequest.VisibilityTimeoutMS), assumed when the configuration
// leaves it to the broker.
const defaultVisibilityTimeout = 30 * time.Second

// aheadMaxAge is how long messages polled ahead may wait for the
// application's next Poll before they are handed back: half the
// visibility timeout, so that they go back before the broker takes them
// for lost and spends one of their retries.
func (c *Consumer) aheadMaxAge() time.Duration {
	v := c.cfg.VisibilityTimeout
	if v <= 0 {
		v = defaultVisibilityTimeout
	}
	return v / 2
}

// poller runs the rounds Poll asks for, one at a time, until ctx (cancelled
// by Close) is done.
func (c *Consumer) poller(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-c.aheadReq:
			c.pollAhead(ctx, j)
			close(j.done)
		}
	}
}

// pollAhead runs round j. What fails is left for Poll, which sends and
// polls again itself when it finds nothing polled ahead: acknowledgements
// that could not be sent stay queued, and a poll that fails is dropped (a
// stale generation heartbeats first; a member the broker lost is lost).
//
// The acknowledgements pending ride on the poll (api.PollRequest.Acks), so
// a round is one request, not an ack and a poll. flushMu is held across
// that poll, as flush holds it across an ack: a Commit or a release of
// revoked partitions waits until the acknowledgements reached the broker.
// It is held until the answer is with the messages polled ahead, too: a
// release (releaseDrained, under flushMu) then finds them there and leaves
// out those of the partitions it gives back, which it takes back at the
// broker; none is added after it. The poll does not wait for messages, so
// the hold is short.
func (c *Consumer) pollAhead(ctx context.Context, j *aheadJob) {
	if j.want <= 0 {
		_ = c.flush(ctx, j.commit)
		return
	}
	c.flushMu.Lock()
	answer, err := c.pollCarryingAcks(ctx, j)
	if err == nil {
		c.keepAhead(j.sess, answer)
	}
	c.flushMu.Unlock()
	switch {
	case err == nil:
	case isCode(err, api.ErrStaleGeneration):
		c.heartbeat(ctx)
		return
	case mustRejoin(err):
		c.lose(j.sess)
		return
	default:
		return
	}
	if answer.rebalance {
		c.heartbeatNow()
	}
}

// keepAhead puts a round's answer with the messages polled ahead, if its
// session sess is still the member's. Messages a Close or a lost session
// left there go back with the member's leave, or went back when the broker
// lost it.
func (c *Consumer) keepAhead(sess uint64, answer pollAnswer) {
	if len(answer.msgs) == 0 && answer.rawN == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.state
	if sess != s.session || !s.joined || s.closed {
		return
	}
	if s.aheadLenLocked() == 0 {
		s.aheadAt = time.Now()
	}
	switch {
	case answer.raw != nil:
		s.aheadRaw = append(s.aheadRaw, rawAnswer{answer.raw, answer.rawN})
	case len(s.aheadRaw) > 0: // an answer of another type after raw ones: keep the order
		s.decodeAheadLocked()
		s.ahead = append(s.ahead, answer.msgs...)
	case len(s.ahead) == 0:
		s.ahead = answer.msgs // the answer's slice is the consumer's now: no copy
	default:
		s.ahead = append(s.ahead, answer.msgs...)
	}
}

// errSessionEnded: the round's session ended before its poll went out.
var errSessionEnded = errors.New("client: session ended")

// pollCarryingAcks polls for round j with the acknowledgements pending
// riding on the poll. What it could not deliver to the broker is queued
// again. flushMu must be held.
func (c *Consumer) pollCarryingAcks(ctx context.Context, j *aheadJob) (pollAnswer, error) {
	answer := pollAnswer{lazy: true} // Poll decodes it (takeAhead)
	acks, err := c.acksForPoll(ctx, j.commit)
	if err != nil {
		return answer, err
	}
	c.mu.Lock()
	if j.sess != c.state.session || !c.state.joined {
		c.mu.Unlock()
		c.requeue(j.sess, acks, nil)
		return answer, errSessionEnded
	}
	req := api.PollRequest{MemberID: c.state.member, Generation: c.state.generation, MaxMessages: j.want, Acks: acks}
	c.mu.Unlock()
	err = c.t.do(answerWithin(ctx, c.pollWithin(0)), http.MethodPost, c.path+"/poll", req, &answer) // it waits for nothing
	if err == nil {
		c.addLost(int64(answer.ackRefused)) // else the acks go again, and are counted then
	}
	if err != nil && len(acks) > 0 {
		// Sent again with the next round or flush; those the broker
		// settled already are then refused harmlessly.
		c.requeue(j.sess, acks, nil)
		if isCode(err, api.ErrBadRequest) {
			// A broker older than acks on polls refuses the field:
			// flush sends them on their own from now on.
			c.noPollAcks.Store(true)
		}
	}
	return answer, err
}

// acksForPoll takes the acknowledgements pending (with consumed, also what
// AutoCommit counts as processed) for the next poll to carry: at most one
// request's worth. Nacks, and acknowledgements beyond that, are flushed
// first. Against a broker that refused acks on polls, everything is
// flushed and the poll carries none. flushMu must be held.
func (c *Consumer) acksForPoll(ctx context.Context, consumed bool) ([]api.OffsetRange, error) {
	if c.noPollAcks.Load() {
		return nil, c.flushLocked(ctx, consumed)
	}
	c.mu.Lock()
	acks, rest := nextRequest(c.state.takeAcksLocked(consumed))
	sess, more := c.state.session, len(rest) > 0 || len(c.state.nacks) > 0
	c.mu.Unlock()
	if !more {
		return acks, nil
	}
	c.requeue(sess, rest, nil)
	if err := c.flushLocked(ctx, false); err != nil {
		c.requeue(sess, acks, nil)
		return nil, err
	}
	return acks, nil
}

// startAhead asks the poller for a round as Poll hands out messages: send
// the acknowledgements pending (with commit, also what AutoCommit counts as
// processed) and, unless polling ahead is off, Poll leaves messages polled
// ahead (it takes up to taking of them), or the messages held and ahead
// already reach the in-flight cap, poll up to maxMessages more. Poll starts
// the round before it decodes what it hands out, so that the broker
// serves the round meanwhile.
func (c *Consumer) startAhead(maxMessages, taking int, commit bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.round != nil || c.state.closed || !c.state.joined {
		return
	}
	j := &aheadJob{sess: c.state.session, commit: commit, done: make(chan struct{})}
	// An application that took long over the previous messages would
	// leave the next ones polled ahead long enough to be handed back (their
	// DeliveryCount then counts a delivery it never saw): do not poll
	// ahead of it this time.
	now := time.Now()
	quick := c.handedOut.IsZero() || now.Sub(c.handedOut) < c.aheadMaxAge()/4
	c.handedOut = now
	if !c.cfg.SerialPolls && quick && c.state.aheadLenLocked() <= taking {
		// The broker counts held messages against the member's cap: ask
		// only for what it can give, so that a poll that gets nothing
		// does not go out for nothing.
		j.want = min(maxMessages, c.inFlightCap()-c.state.unackedLocked(commit))
	}
	select {
	case c.aheadReq <- j:
		c.round = j
	default: // cannot happen: one round at a time, and aheadReq holds one
	}
}

// awaitAhead waits for the round in progress, if any, to end. It returns
// ctx's error if ctx is done first (the round goes on; the next Poll takes
// its messages), and ErrClosed if the consumer closed.
func (c *Consumer) awaitAhead(ctx context.Context) error {
	c.mu.Lock()
	j := c.round
	c.mu.Unlock()
	if j == nil {
		return nil
	}
	select {
	case <-j.done:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return ErrClosed
	}
	c.mu.Lock()
	if c.round == j {
		c.round = nil
	}
	c.mu.Unlock()
	return nil
}

// takeAhead hands out up to maxMessages of the messages polled ahead, as
// accept does, those kept back of partitions announced since first. It
// returns none only when none is left to hand out: when accept hands out
// none of those it takes (it kept them back, or they go back), it takes
// the next, since Poll polls the broker when this returns none, and
// would return newer messages of a partition than those still ahead.
func (c *Consumer) takeAhead(maxMessages int) []*Message {
	for {
		got, took := c.takeAheadOnce(maxMessages)
		if len(got) > 0 || !took {
			return got
		}
	}
}

// takeAheadOnce is one round of takeAhead; took reports whether it took
// any message from ahead. An answer not decoded yet is decoded here,
// outside mu: a release or hand-back meanwhile does not see its messages,
// and accept hands those of partitions no longer owned back.
func (c *Consumer) takeAheadOnce(maxMessages int) (got []*Message, took bool) {
	c.mu.Lock()
	s := &c.state
	if s.mayBeExpiredLocked(time.Now()) {
		c.mu.Unlock()
		return nil, false // not until a heartbeat confirms the membership (Poll sends one)
	}
	if got := s.takeKeptLocked(maxMessages); len(got) > 0 {
		c.mu.Unlock()
		return got, true
	}
	// What is ahead was polled before the releases counted by now, or
	// left out by them (releaseLocked): an answer decoded below that a
	// release crosses is checked against this count.
	since := s.releases
	if len(s.ahead) == 0 && len(s.aheadRaw) > 0 {
		took = true
		raw, sess := s.aheadRaw[0], s.session
		s.aheadRaw[0] = rawAnswer{}
		if s.aheadRaw = s.aheadRaw[1:]; len(s.aheadRaw) == 0 {
			s.aheadRaw = nil
		}
		c.mu.Unlock()
		msgs, err := decodePollStored(raw.body)
		if hook := aheadDecoded.Load(); hook != nil {
			(*hook)()
		}
		c.mu.Lock()
		if sess != s.session || err != nil {
			// A lost session took them along; an answer that does not
			// decode is dropped, as a poll's that did not read (the
			// broker delivers them again after the visibility timeout).
			c.mu.Unlock()
			return nil, true
		}
		if s.releases != since {
			// A release during the decode did not see these: it took
			// back those of its partitions, which must not wait ahead
			// for a Poll after it (accept sees only the first n).
			msgs = s.dropReleasedSinceLocked(msgs, since)
			since = s.releases
		}
		// Ahead was empty; a poll ahead's decoded answer may have come
		// meanwhile, after this one.
		s.ahead = append(msgs, s.ahead...)
	}
	n := len(s.ahead)
	if maxMessages > 0 {
		n = min(n, maxMessages)
	}
	if n == 0 {
		c.mu.Unlock()
		return nil, took // an answer decoded to none: the next may hold some
	}
	// Hand out the first n in place: got is the application's from now
	// on, so what stays ahead must not share its memory.
	got = s.ahead[:n:n]
	s.ahead = s.ahead[n:]
	if len(s.ahead) == 0 {
		s.ahead = nil
	}
	sess := s.session
	c.mu.Unlock()
	return c.accept(sess, since, dropCrossed, got), true
}

// aheadDecoded, if set, runs in takeAhead between the decode of an answer
// and the lock it is kept under: tests release a partition there.
var aheadDecoded atomic.Pointer[func()]

// aheadDueLocked is when run must look next at the messages polled ahead
// (zero: never). It does not wake run for each answer polled ahead (run's
// wake-up flushes, and would send acknowledgements in pieces): while the
// consumer polls ahead, run looks at least every quarter of the visibility
// timeout, so what waited half of it goes back before three quarters.
func (c *Consumer) aheadDueLocked() time.Time {
	if c.cfg.SerialPolls {
		return time.Time{}
	}
	if c.state.aheadLenLocked() > 0 {
		return c.state.aheadAt.Add(c.aheadMaxAge())
	}
	return time.Now().Add(c.aheadMaxAge() / 2)
}

// handBackStaleLocked queues the hand-back of the messages polled ahead if
// they waited aheadMaxAge.
func (c *Consumer) handBackStaleLocked(now time.Time) {
	if c.state.aheadLenLocked() > 0 && !now.Before(c.state.aheadAt.Add(c.aheadMaxAge())) {
		c.revokeCreditLocked()
		c.state.handBackAheadLocked()
	}
}
