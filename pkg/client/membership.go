package client

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// newMemberID is a member ID for a join to propose (Consumer.joinID):
// the client ID, if any, for the group's listings, and 130 random bits.
func newMemberID(clientID string) string {
	const maxPrefix = 200 // the rest of api's 249 characters hold the random part
	if clientID == "" {
		clientID = "member"
	}
	if len(clientID) > maxPrefix {
		clientID = clientID[:maxPrefix]
	}
	return clientID + "-" + rand.Text()
}

// revokePoll is how often the background goroutine looks at partitions
// waiting to be released.
const revokePoll = 50 * time.Millisecond

// joinCall is a join in flight (Consumer.joining).
type joinCall struct {
	done chan struct{} // closed when the join is over
	err  error         // its outcome, set before done is closed
}

// ensureJoined joins the group unless this consumer is a member, and
// returns once it is, or when ctx is done. The join runs on a goroutine of
// its own (joinGroup), which a Poll giving up does not stop: a join
// abandoned while the broker applied it left a member nobody knew of,
// holding partitions unconsumed until its session timed out. The next Poll
// waits for the same join; Close lets it end, then leaves.
func (c *Consumer) ensureJoined(ctx context.Context) error {
	c.mu.Lock()
	switch {
	case c.state.closed:
		c.mu.Unlock()
		return ErrClosed
	case c.state.joined:
		c.mu.Unlock()
		return nil
	}
	jc := c.joining
	if jc == nil {
		jc = &joinCall{done: make(chan struct{})}
		c.joining = jc
		go c.joinGroup(jc)
	}
	c.mu.Unlock()
	select {
	case <-jc.done:
		if jc.err != nil && c.isClosed() {
			return ErrClosed // Close ended it
		}
		return jc.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// joinGroup runs join jc until it is answered, fails, or Close ends it.
func (c *Consumer) joinGroup(jc *joinCall) {
	jc.err = c.joinOnce(c.life)
	c.mu.Lock()
	c.joining = nil
	c.mu.Unlock()
	close(jc.done)
}

// joinOnce joins the group. A static member whose previous self is still
// alive (DUPLICATE_INSTANCE_ID) waits as the broker says and tries again,
// up to instanceTries times: refused after waiting so, the instance is
// held by a live member, not by a restarted member's predecessor, and the
// refusal is returned (to Poll, as any refused join is; the next Poll
// tries again). It used to try until the consumer closed, and Poll
// returned only its context's error, or never.
func (c *Consumer) joinOnce(ctx context.Context) error {
	c.mu.Lock()
	if c.joinID == "" {
		c.joinID = newMemberID(c.cfg.ClientID)
	}
	id := c.joinID
	c.mu.Unlock()
	req := api.JoinRequest{
		MemberID:           id,
		Topics:             c.cfg.Topics,
		SessionTimeoutMS:   c.cfg.SessionTimeout.Milliseconds(),
		RebalanceTimeoutMS: c.cfg.RebalanceTimeout.Milliseconds(),
		Assignor:           c.cfg.Assignor,
		InstanceID:         c.cfg.InstanceID,
		OffsetReset:        c.cfg.OffsetReset,
		ClientID:           c.cfg.ClientID,

		MaxRetries:          c.cfg.MaxRetries,
		VisibilityTimeoutMS: c.cfg.VisibilityTimeout.Milliseconds(),
		MaxInFlight:         c.cfg.MaxInFlight,
	}
	var (
		resp api.JoinResponse
		sent time.Time
	)
	wait := backoffMin
	for try := 1; ; try++ {
		sent = time.Now()
		// A join is answered at once (a creating one once its settings
		// are written, within 5 s): one unanswered for twice a read's
		// bound is at a stopped or hung coordinator, and waits out the
		// group's failover instead (chase). `goqueue consume --group`
		// waited for a paused coordinator for as long as it stayed
		// paused, though another node took the group over in seconds.
		err := c.t.do(answerWithin(ctx, 2*c.t.readWithin), http.MethodPost, c.path+"/join", req, &resp)
		if err == nil {
			break
		}
		if !isCode(err, api.ErrDuplicateInstance) || try == instanceTries || c.isClosed() {
			if refused(err) {
				c.mu.Lock()
				c.joinID = "" // the broker refused it: it made no member
				c.mu.Unlock()
			}
			return err
		}
		// Nothing the broker applies: Close need not let the wait end.
		t := time.NewTimer(instanceFreeIn(err, wait))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-c.closing.Done():
			t.Stop()
			return ErrClosed
		}
		wait = min(2*wait, backoffMax)
	}
	if resp.NodeID != 0 {
		c.t.meetNodes(ctx, resp.NodeID) // a cluster's: see nodes.go
	}
	c.mu.Lock()
	c.joinID = "" // answered: the next membership proposes an ID of its own
	s := &c.state
	c.endStreamLocked()
	s.resetLocked()
	s.joined, s.member, s.generation = true, resp.MemberID, resp.Generation
	s.maxInFlight = resp.MaxInFlight
	s.session++
	s.hbInterval = c.interval(resp.HeartbeatIntervalMS)
	s.nextHB = time.Now().Add(s.hbInterval)
	s.confirmed, s.sessionTimeout = sent, time.Duration(resp.SessionTimeoutMS)*time.Millisecond
	rebalance := c.cfg.RebalanceTimeout
	if rebalance <= 0 {
		rebalance = time.Duration(resp.SessionTimeoutMS) * time.Millisecond
	}
	s.revokeWait = max(rebalance/2, 100*time.Millisecond)
	for _, k := range partsOf(resp.AssignedPartitions) {
		s.owned[k] = true
		s.announcing[k]++ // no message of it for Poll until OnAssigned returned
	}
	sess := s.session
	c.mu.Unlock()
	c.signal()
	c.announce(sess, resp.AssignedPartitions)
	return nil
}

// instanceFreeIn is how long a join refused DUPLICATE_INSTANCE_ID waits:
// the broker says when the instance's old self will have been quiet long
// enough (details.retry_after_ms, bounded by maxInstanceWait); an older
// broker that does not leaves the backoff's wait.
func instanceFreeIn(err error, backoff time.Duration) time.Duration {
	var e *api.Error
	if !errors.As(err, &e) {
		return backoff
	}
	ms, ok := e.Details["retry_after_ms"].(float64)
	if !ok || ms <= 0 {
		return backoff
	}
	if ms >= float64(maxInstanceWait.Milliseconds()) { // also keeps a huge one from overflowing
		return maxInstanceWait
	}
	return time.Duration(ms * float64(time.Millisecond))
}

// instanceTries is how many joins refused DUPLICATE_INSTANCE_ID a join
// makes before it returns the refusal. A restarted member's predecessor,
// dead, is quiet by the broker's first hint: the second try is for a
// heartbeat it had in flight as it died, the third for a hint cut by
// maxInstanceWait.
const instanceTries = 3

// maxInstanceWait bounds the broker's hint: it is a heartbeat interval at
// most (seconds), and a wrong one must not park a join for long.
const maxInstanceWait = 30 * time.Second

// interval is the heartbeat interval: the broker's, or the configured one
// if smaller.
func (c *Consumer) interval(brokerMS int64) time.Duration {
	d := time.Duration(brokerMS) * time.Millisecond
	if d <= 0 {
		d = 3 * time.Second
	}
	if c.cfg.HeartbeatInterval > 0 {
		d = min(d, c.cfg.HeartbeatInterval)
	}
	return d
}

// heartbeatWithin is how long a heartbeat's node may leave it unanswered:
// a coordinator stopped or hung (its connections whole) held the member
// for as long as it stayed so, while another node had taken the group
// over within seconds. Cut, the heartbeat goes to the others, which name
// the group's new coordinator once there is one.
const heartbeatWithin = 5 * time.Second

// heartbeat reports what this member owns and applies the answer: new
// partitions are taken, partitions no longer listed start being revoked.
// A member the broker no longer knows is lost. One heartbeat at a time
// (hbTurn), none if ctx ends while another is in flight; the callbacks run
// after it.
func (c *Consumer) heartbeat(ctx context.Context) { c.heartbeatThen(ctx, nil) }

// heartbeatThen is heartbeat, calling then (unless nil) once the answer
// is applied (and the stream subscribed again under its generation) or
// the heartbeat given up, before the callbacks run.
func (c *Consumer) heartbeatThen(ctx context.Context, then func()) {
	if then == nil {
		then = func() {}
	}
	select {
	case c.hbTurn <- struct{}{}:
	case <-ctx.Done():
		then()
		return
	}
	sess, added, lost, answered := c.heartbeatOnce(ctx)
	<-c.hbTurn
	if answered {
		c.resubscribe() // the stream's poll runs under the new generation
	}
	then()
	c.callback(c.cfg.OnLost, lost)
	if answered {
		c.announce(sess, added)
	}
}

// heartbeatOnce sends one heartbeat of session sess and applies its
// answer. It returns the partitions newly assigned (announcing: see
// announce) and whether the answer was applied, or, when the broker no
// longer knows the member, the partitions it lost.
func (c *Consumer) heartbeatOnce(ctx context.Context) (sess uint64, added, lost api.Assignment, answered bool) {
	c.mu.Lock()
	if !c.state.joined {
		c.mu.Unlock()
		return 0, nil, nil, false
	}
	sess = c.state.session
	req := api.HeartbeatRequest{MemberID: c.state.member, Generation: c.state.generation, OwnedPartitions: c.state.ownedAssignmentLocked()}
	if req.OwnedPartitions == nil {
		req.OwnedPartitions = api.Assignment{}
	}
	sent := time.Now()
	c.state.nextHB = sent.Add(c.state.hbInterval)
	c.mu.Unlock()
	c.hbSeq++
	req.Seq = c.hbSeq
	var resp api.HeartbeatResponse
	if err := c.t.do(answerWithin(ctx, heartbeatWithin), http.MethodPost, c.path+"/heartbeat", req, &resp); err != nil {
		if mustRejoin(err) {
			lost, _ = c.forget(sess)
		}
		return sess, nil, lost, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.state
	if sess != s.session {
		return sess, nil, nil, false
	}
	s.generation, s.confirmed = resp.Generation, sent
	if resp.HeartbeatIntervalMS > 0 {
		s.hbInterval = c.interval(resp.HeartbeatIntervalMS)
	}
	assigned := make(map[tp]bool)
	for _, k := range partsOf(resp.AssignedPartitions) {
		assigned[k] = true
		delete(s.revoking, k) // a revocation the broker took back
		delete(s.released, k) // or a partition given back earlier, assigned again
		if !s.owned[k] {
			// Owned from now on, so that the next heartbeat reports it,
			// but announcing: Poll hands out none of its messages until
			// OnAssigned has returned (announce).
			s.owned[k] = true
			s.announcing[k]++
			added = addTo(added, k)
		}
	}
	now := time.Now()
	for k := range s.owned {
		if _, ok := s.revoking[k]; !assigned[k] && !ok {
			s.revoking[k] = now.Add(s.revokeWait)
		}
	}
	sortAssignment(added)
	return sess, added, nil, true
}

// releaseDrained releases revoked partitions whose held messages are all
// settled (or whose deadline passed): OnRevoked, commit, forget, and a
// heartbeat that no longer lists them.
//
// The broker takes back, with a release, the messages of the partitions
// that it handed out to this member; any of them that reached the member
// after the release would be taken for its own, and if the heartbeat's
// answer (or a later one) gave it the partition again, handed out: acked
// too late, and delivered again under the same ownership. So nothing is
// handed out to the member between the flush and the heartbeat's answer:
// flushMu is held throughout (no poll ahead goes out, and one whose answer
// is not yet ahead finishes first), the stream's credit is taken back
// before the flush and granted only after (its PONG then says that every
// delivery handed out before is ahead, see api.StreamCredit), and what is
// ahead of these partitions is left out with them. A Poll's own poll in
// flight meanwhile is caught by its count of releases (accept).
func (c *Consumer) releaseDrained(ctx context.Context) {
	c.mu.Lock()
	parts := c.state.drainedLocked(time.Now())
	sess := c.state.session
	c.mu.Unlock()
	if len(parts) == 0 {
		return
	}
	c.callback(c.cfg.OnRevoked, assignmentOf(parts))
	c.flushMu.Lock()
	st := c.liveStream()
	if st != nil {
		st.creditMu.Lock() // a topUp deciding now writes its CREDIT before
	}
	c.mu.Lock()
	c.releasing = true
	c.revokeCreditLocked()
	c.mu.Unlock()
	if st != nil {
		st.creditMu.Unlock()
	}
	done := func() {
		c.mu.Lock()
		c.releasing = false
		c.mu.Unlock()
		c.flushMu.Unlock()
	}
	_ = c.flushLocked(ctx, true) // what cannot be committed now is redelivered: at least once
	c.mu.Lock()
	if sess != c.state.session {
		c.mu.Unlock()
		done()
		return
	}
	c.state.releaseLocked(parts)
	c.mu.Unlock()
	c.heartbeatThen(ctx, done)
	if st := c.liveStream(); st != nil {
		c.mu.Lock()
		nacks := len(c.state.nacks) > 0
		c.mu.Unlock()
		if nacks {
			// Hand-backs of a Poll's answer that crossed the release go
			// before any credit: the broker reads frames in order, so
			// none of them can release a delivery made under the credit.
			_ = c.flush(ctx, false)
		}
		c.topUp(st) // the credit taken back for the release
	}
}

// lose forgets the membership of session sess after the broker stopped
// knowing it, and reports its partitions to OnLost. The next Poll joins
// again.
func (c *Consumer) lose(sess uint64) {
	if lost, ok := c.forget(sess); ok {
		c.callback(c.cfg.OnLost, lost)
	}
}

// forget ends the membership of session sess, if it is still the
// current one, and returns what it owned.
func (c *Consumer) forget(sess uint64) (api.Assignment, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sess != c.state.session || !c.state.joined {
		return nil, false
	}
	lost := c.state.ownedAssignmentLocked()
	c.endStreamLocked()
	c.state.resetLocked()
	return lost, true
}

// run is the consumer's background goroutine: heartbeats at the broker's
// interval, releases revoked partitions, sends acknowledgements, hands back
// messages polled ahead that no Poll took in time, and auto-commits. It
// returns when ctx (cancelled by Close) is done.
func (c *Consumer) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	nextCommit := time.Now().Add(c.cfg.AutoCommitInterval)
	busy := false // the last round found another flush in progress
	for {
		c.mu.Lock()
		wait := time.Hour
		if c.state.joined {
			wait = time.Until(c.state.nextHB)
			if busy {
				wait = min(wait, flushRetry)
			}
			if len(c.state.revoking) > 0 {
				wait = min(wait, revokePoll)
			}
			if c.cfg.AutoCommit {
				wait = min(wait, time.Until(nextCommit))
			}
			if due := c.aheadDueLocked(); !due.IsZero() {
				wait = min(wait, time.Until(due))
			}
			if due := c.streamDueLocked(); !due.IsZero() && !busy {
				wait = min(wait, time.Until(due)) // the flush below sends what is held back, and PINGs
			}
		}
		wait = max(wait, 0)
		c.runAt = time.Now().Add(wait)
		c.mu.Unlock()
		timer.Reset(wait)
		rearmed, woken := false, false
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
			woken = true
		case <-timer.C:
		case <-c.rearm:
			rearmed = true
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		c.mu.Lock()
		c.runAt = time.Time{}
		if rearmed {
			c.mu.Unlock()
			continue // only to wait for what came due sooner
		}
		now := time.Now()
		joined, due := c.state.joined, !now.Before(c.state.nextHB)
		if joined && !woken && !due && !busy && !c.roundDueLocked(now, nextCommit) {
			// Woken only for what a Poll held back on the stream
			// (streamDueLocked), if a Poll has not sent it since: sent
			// without waiting for its PONG, so that Polls do not queue
			// behind a round trip.
			sd := c.streamDueLocked()
			c.mu.Unlock()
			if !sd.IsZero() && !now.Before(sd) {
				busy = !c.flushStreamDue(ctx) // not at once again while a Commit holds flushMu
			}
			continue
		}
		c.handBackStaleLocked(now) // sent by the flush below
		c.mu.Unlock()
		if !joined {
			continue
		}
		if due {
			c.heartbeat(ctx)
		}
		c.releaseDrained(ctx)
		commit := c.cfg.AutoCommit && !time.Now().Before(nextCommit)
		// Another flush in progress (the poller's poll carrying acks, a
		// Commit) is not waited for: heartbeats must not queue behind a
		// slow request. What is pending goes a moment later.
		if !c.flushMu.TryLock() {
			busy = true
			continue
		}
		busy = false
		if commit {
			nextCommit = time.Now().Add(c.cfg.AutoCommitInterval)
		}
		_ = c.flushLocked(ctx, commit) // kept and retried on the next round if it fails
		c.flushMu.Unlock()
	}
}

// roundDueLocked reports whether run has work due at now besides the
// stream's (streamDueLocked) and the heartbeat: a revocation to drain,
// an auto-commit, messages polled ahead to hand back. c.mu must be held.
func (c *Consumer) roundDueLocked(now, nextCommit time.Time) bool {
	if len(c.state.revoking) > 0 || (c.cfg.AutoCommit && !now.Before(nextCommit)) {
		return true
	}
	due := c.aheadDueLocked()
	return !due.IsZero() && !now.Before(due)
}

// flushStreamDue sends, without waiting for a PONG, what a Poll held back
// on the stream and no Poll sent since (streamDueLocked): the
// acknowledgements, and a PING once confirmEvery has passed. It reports
// false, sending nothing, if another flush is in progress: a Poll's sends
// them itself or has run woken again (rearmLocked), and a Commit's holds
// flushMu for a round trip, so run tries again after flushRetry.
func (c *Consumer) flushStreamDue(ctx context.Context) bool {
	st := c.liveStream()
	if st == nil {
		return true
	}
	if !c.flushMu.TryLock() {
		return false
	}
	defer c.flushMu.Unlock()
	_ = c.flushStreamLocked(ctx, st, false, false) // a failed stream's frames are queued again by its reader
	return true
}

// flushRetry is how soon run tries again a flush it found in progress.
const flushRetry = 5 * time.Millisecond
