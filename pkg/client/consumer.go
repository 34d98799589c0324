package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// ErrRevoked is returned by Ack and Nack for a message of a partition this
// consumer no longer owns (revoked, or the member was lost and joined
// again): the broker hands it to the partition's next owner. Commit,
// CommitAll and Close wrap it when acknowledgements made since the last
// commit were dropped unsent because the membership ended: their
// messages are delivered again.
var ErrRevoked = errors.New("client: message's partition is no longer owned by this consumer")

// ErrAckLost is wrapped by the errors of Commit, CommitAll and Close when
// acknowledgements made since the last commit came too late: the broker had
// taken their messages back (their visibility deadline passed, or their
// partition went to another member) and delivers them again. One whose
// message is settled by then is not counted: sent again after the broker
// applied it (its answer lost), or late for a message the member it went
// to has acknowledged (processed twice, as at-least-once allows; nothing
// is delivered again).
var ErrAckLost = errors.New("client: acknowledgement came too late")

// AckLostError is the error wrapping ErrAckLost: Count acknowledgements
// came too late, and their messages are delivered again (errors.As finds
// it in what Commit, CommitAll and Close return).
type AckLostError struct{ Count int64 }

func (e *AckLostError) Error() string {
	return fmt.Sprintf("%v: %d acknowledged messages were not committed: the broker had taken them back (visibility deadline passed, or partition moved on), so they will be delivered again", ErrAckLost, e.Count)
}

func (e *AckLostError) Unwrap() error { return ErrAckLost }

// ConsumerConfig configures NewConsumer. Brokers, GroupID and Topics are
// required; zero values of the rest take the defaults noted.
type ConsumerConfig struct {
	Brokers []string // "host:port" or base URLs, tried in turn
	GroupID string
	Topics  []string

	// AutoCommit acknowledges, every AutoCommitInterval (default 5 s), the
	// messages earlier polls returned: calling Poll again means the messages
	// of the previous Poll were processed. Without it, only Ack, Commit and
	// CommitAll settle messages.
	AutoCommit         bool
	AutoCommitInterval time.Duration

	SessionTimeout    time.Duration // default: the broker's (30 s)
	RebalanceTimeout  time.Duration // default: the session timeout
	HeartbeatInterval time.Duration // default: the interval the broker gives; if set, the smaller of the two
	OffsetReset       string        // api.OffsetResetEarliest (broker default), Latest or None
	Assignor          string        // api.Assignor*; default cooperative-sticky
	// InstanceID is static membership: a restart within the session
	// timeout keeps its partitions. A join refused because a live member
	// holds the instance (api.ErrDuplicateInstance) waits for it as the
	// broker says; refused three times in a row, Poll returns the refusal
	// and the next Poll tries again.
	InstanceID string
	ClientID   string

	// Delivery settings of the group, fixed by the member that creates it
	// (zero: the broker's defaults of 3 retries, 30 s, 1000 messages).
	MaxRetries        int           // deliveries after the first before a message is dead-lettered
	VisibilityTimeout time.Duration // an unacknowledged message is redelivered after this
	MaxInFlight       int           // messages one member may hold unacknowledged

	// PollWait is how long Poll waits for a message when none is ready
	// (default 1 s; never past the context's deadline).
	PollWait time.Duration
	// SerialPolls turns polling ahead off, and with it the stream (see
	// NoStream), which pushes messages ahead. A member polling over HTTP
	// otherwise, once Poll returns messages, sends the acknowledgements
	// pending and polls for up to as many more (within the group's in-flight cap) while the
	// application processes them, so that the next Poll usually returns at
	// once. Messages polled ahead are in flight for this member: a Poll
	// that does not come within half the visibility timeout, or a
	// rebalance that takes their partition, hands them back unprocessed
	// (delivered again at once, without spending a retry; DeliveryCount
	// counts it). After messages the application took more than an eighth
	// of the visibility timeout over, it does not poll ahead.
	SerialPolls bool
	// NoStream has the member poll for its messages over HTTP rather than
	// take them on the stream (GET /stream), the default: once joined, the
	// consumer subscribes on one long-lived connection to the broker, which
	// pushes messages as they are appended, up to the group's in-flight
	// cap less what the consumer holds; they wait for Poll as messages
	// polled ahead do (see SerialPolls for when they are handed back), and
	// acknowledgements go back on it. Joins, heartbeats, commits and leaves
	// stay requests. A broker without the stream, a stream that fails (until
	// it is dialled again a second later), and SerialPolls poll as with
	// NoStream. With the producers' stream it halves the median end-to-end
	// latency and cuts its p99 by about a third at the same throughput
	// (docs/latency.md).
	NoStream bool
	// CloseTimeout bounds Close's final commit and leave, its wait for a
	// callback (OnRevoked among them), and Commit and CommitAll (default
	// 10 s).
	CloseTimeout time.Duration

	// Callbacks, called from the consumer's goroutines (never two at once),
	// with the partitions concerned. Poll returns no message of a partition
	// before OnAssigned for it has returned (meanwhile it returns those of
	// the others, or none). OnRevoked runs before the acknowledged
	// messages of those partitions are committed and the partitions
	// released; OnLost when the broker no longer knows the member (session
	// timeout, fenced), after which the consumer joins again. They must not
	// call Close, Commit or CommitAll.
	OnAssigned func(api.Assignment)
	OnRevoked  func(api.Assignment)
	OnLost     func(api.Assignment)

	HTTPClient *http.Client
	APIKey     string // sent as X-API-Key when the broker requires keys
}

// Defaults of ConsumerConfig.
const (
	DefaultAutoCommitInterval = 5 * time.Second
	DefaultPollWait           = time.Second
	DefaultCloseTimeout       = 10 * time.Second
)

// Consumer is one member of a consumer group. Poll is meant for one
// goroutine at a time; Ack, Nack, Commit and CommitAll may be called from
// any goroutine.
//
// The consumer's state is guarded by mu. Two background goroutines, started
// by NewConsumer and stopped by Close, do the rest: run heartbeats,
// releases revoked partitions and sends acknowledgements; poller polls
// ahead for Poll (pollahead.go). Joins happen in Poll (join serialises
// them). It heartbeats at its interval, and at once when a poll
// answer says the broker has a new assignment for it (a rebalance), so
// partitions move within milliseconds of a member joining or leaving.
type Consumer struct {
	cfg  ConsumerConfig
	t    *transport
	path string // "/groups/{group}"
	// cbTurn runs the callbacks one at a time (a semaphore: buffered(1),
	// held while one runs), so that Close can give up waiting for one
	// that does not return.
	cbTurn chan struct{}
	// joining is the join in flight, if any (guarded by mu; see
	// ensureJoined). joinID (guarded by mu) is the member ID the next join
	// proposes: chosen before a join's first attempt and kept until the
	// broker answers it, so that a join whose answer never came (the
	// connection lost, or Close ended it) is not a second member: its
	// retry is the same member joining again, and Close leaves it.
	joining *joinCall
	joinID  string
	// life is done once Close has let a join in flight end (or waited
	// half its CloseTimeout for it): it ends the background goroutines.
	life context.Context
	// flushMu serialises flush: a release of revoked partitions must not
	// overtake acks another flush has taken but not yet sent, or they reach
	// the broker after the partition is gone and are lost (the next owner
	// gets those messages again). Held across requests; never taken under mu.
	flushMu sync.Mutex
	// hbTurn serialises heartbeats (a semaphore: buffered(1), held while
	// one is in flight): each reports what the member owns as it is sent,
	// and the broker takes a partition left out as released. A heartbeat
	// overtaken by another whose answer granted a partition would,
	// arriving late, give that partition back behind the member's back:
	// its messages in flight went out again, to the same member. Waiting
	// for the turn gives up with the caller's context, so neither Close
	// (which ends the background goroutine's) nor a Poll's deadline waits
	// on another caller's slow request. Never taken under mu, never held
	// across a callback. One at a time is not enough on its own: a request
	// the transport gave up on (and sent again) may still reach the broker
	// after later ones, so each heartbeat also carries a growing seq
	// (hbSeq, guarded by hbTurn) and the broker ignores what an older one
	// says the member owns.
	hbTurn chan struct{}
	hbSeq  int64
	stop   context.CancelFunc
	done   <-chan struct{} // closed when run and poller have returned; set before NewConsumer returns
	wake   chan struct{}   // buffered(1): heartbeat now
	// aheadReq hands the poller its next round (pollahead.go); buffered(1),
	// as Poll sends at most one round at a time.
	aheadReq chan *aheadJob
	mu       sync.Mutex
	state    memberState // guarded by mu
	round    *aheadJob   // guarded by mu: the poller's round Poll has not waited for yet
	// releasing is set (guarded by mu) while releaseDrained gives
	// partitions back: no stream credit is granted then.
	releasing bool
	// handedOut is when Poll last returned messages (guarded by mu): the
	// time to the next such return is how long the application took.
	handedOut time.Time
	// noPollAcks: the broker refused acknowledgements riding on a poll
	// (older than api.PollRequest.Acks); flush sends them on their own.
	noPollAcks atomic.Bool

	// The consumer stream (stream.go).
	stream      *consumerStream // guarded by mu: the session's stream, nil while polling over HTTP
	streamRetry time.Time       // guarded by mu: no stream is dialled before
	streamWG    goroutines      // the streams' readers; Close waits for them
	noStream    atomic.Bool     // the broker answered 404: poll over HTTP for good
	arrived     chan struct{}   // buffered(1): a delivery came on the stream
	// rearm (buffered(1)) has run set its timer again, without a round:
	// what it is to send on the stream (streamDueLocked) came due before
	// runAt, when its timer fires (guarded by mu; zero while run is not
	// waiting on it, as it looks at what is due before it waits again).
	rearm chan struct{}
	runAt time.Time
	// dial opens the stream's connections: net.Dialer's (tests give one
	// that breaks them). Set before the first Poll, then immutable.
	dial dialer
	// closeDone is closed when the first Close returns: a later Close
	// waits for it, so that none returns before the commit and the leave.
	closeDone chan struct{}
	// closing is done (cause ErrClosed) when Close starts, by
	// startClose: a join waiting for an instance a live member holds
	// (DUPLICATE_INSTANCE_ID) stops waiting, and so does a flush of the
	// application's (flushUntilClose).
	closing    context.Context
	startClose context.CancelCauseFunc
}

// NewConsumer checks cfg and starts the consumer. It joins the group on the
// first Poll.
func NewConsumer(cfg *ConsumerConfig) (*Consumer, error) {
	if cfg == nil {
		cfg = &ConsumerConfig{} // refused below, as a zero config is
	}
	c := *cfg
	switch {
	case c.GroupID == "":
		return nil, errors.New("client: ConsumerConfig.GroupID is required")
	case len(c.Topics) == 0:
		return nil, errors.New("client: ConsumerConfig.Topics is required")
	}
	if _, err := groupPath(c.GroupID); err != nil {
		return nil, err // "." or "..": every request of the group would be NOT_FOUND
	}
	if c.AutoCommitInterval <= 0 {
		c.AutoCommitInterval = DefaultAutoCommitInterval
	}
	if c.PollWait <= 0 {
		c.PollWait = DefaultPollWait
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	t, err := newTransport(c.Brokers, c.HTTPClient, c.APIKey)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	closing, startClose := context.WithCancelCause(context.Background())
	cons := &Consumer{
		cfg:        c,
		t:          t,
		path:       "/groups/" + esc(c.GroupID),
		stop:       stop,
		life:       ctx,
		wake:       make(chan struct{}, 1),
		hbTurn:     make(chan struct{}, 1),
		cbTurn:     make(chan struct{}, 1),
		aheadReq:   make(chan *aheadJob, 1),
		arrived:    make(chan struct{}, 1),
		rearm:      make(chan struct{}, 1),
		closeDone:  make(chan struct{}),
		closing:    closing,
		startClose: startClose,
		state:      newMemberState(),
		dial:       (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}
	var bg goroutines
	bg.Go(func() { cons.run(ctx) })
	bg.Go(func() { cons.poller(ctx) })
	cons.done = bg.Idle()
	return cons, nil
}

// Poll returns up to maxMessages messages of the partitions this member owns,
// waiting up to PollWait for the first (maxMessages 0 sets no bound of the
// caller's: the transport's and the group's in-flight cap still apply). It joins the group first if needed
// (a join outlives a Poll whose ctx ends first: the next Poll waits for it)
// and sends pending acknowledgements (at once, or while the application
// processes what Poll returns: see SerialPolls). The messages are in flight for this
// member until acknowledged (Ack, Commit, or AutoCommit), negatively
// acknowledged, or their visibility timeout passes. Poll returns when ctx is
// done, with ctx's error, and with ErrClosed if Close starts while it sends
// acknowledgements (Close sends them).
func (c *Consumer) Poll(ctx context.Context, maxMessages int) ([]*Message, error) {
	if c.isClosed() {
		return nil, ErrClosed
	}
	if maxMessages < 0 {
		// Refused here for every transport: the stream and the polls
		// ahead took it for no bound, the broker refuses it in a poll.
		return nil, api.ErrInvalidArgument.Withf("maxMessages %d is negative", maxMessages)
	}
	if err := ctx.Err(); err != nil {
		// Also on the stream, whose poll of a ctx past its deadline
		// waits for nothing (wait below is not positive) and would
		// answer nothing, not ctx's error: a loop polling until Poll
		// fails never ended.
		return nil, err
	}
	if err := c.ensureJoined(ctx); err != nil {
		return nil, err
	}
	commitNow := false
	if c.cfg.AutoCommit {
		c.mu.Lock()
		c.state.consumedLocked()
		// The broker counts unacknowledged messages against the member's
		// in-flight cap; waiting for the interval with half the cap
		// consumed would stall the consumer, so commit early then.
		commitNow = c.state.consumedN >= c.inFlightCap()/2
		revoking := len(c.state.revoking) > 0
		c.mu.Unlock()
		if revoking {
			c.signal() // what they held counts as processed: release them now
		}
	}
	if err := c.awaitAhead(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	pending := c.state.aheadLenLocked() > 0
	unsure := pending && c.state.mayBeExpiredLocked(time.Now())
	c.mu.Unlock()
	if unsure {
		// Heartbeats were late (a busy machine, a slow broker): learn
		// whether the membership still holds before handing out what
		// was polled ahead. A lost member drops them with the session.
		c.heartbeat(ctx)
	}
	wait := c.cfg.PollWait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)-50*time.Millisecond)
	}
	if st := c.streamFor(ctx); st != nil {
		msgs, err := c.pollStream(ctx, st, maxMessages, commitNow, wait)
		if !errors.Is(err, errStreamGone) {
			return msgs, err
		}
		// The stream failed: this Poll goes over HTTP.
	}
	if pending {
		// The next round goes out before these are decoded and handed
		// out: the broker serves it meanwhile.
		c.startAhead(maxMessages, maxMessages, commitNow)
		if msgs := c.takeAhead(maxMessages); len(msgs) > 0 {
			return msgs, nil
		}
		// None handed out after all: let that round end before a poll
		// below, which must not overtake it.
		if err := c.awaitAhead(ctx); err != nil {
			return nil, err
		}
		if msgs := c.takeAhead(maxMessages); len(msgs) > 0 {
			c.startAhead(maxMessages, 0, commitNow)
			return msgs, nil
		}
	}
	if err := c.flushUntilClose(ctx, commitNow); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		// The membership may have ended since Poll joined: the flush's
		// acks refused as a forgotten member's, or a heartbeat's answer.
		if err := c.ensureJoined(ctx); err != nil {
			return nil, err
		}
		c.mu.Lock()
		if !c.state.joined { // lost again since: join again (ctx bounds it)
			c.mu.Unlock()
			continue
		}
		req := api.PollRequest{MemberID: c.state.member, Generation: c.state.generation, MaxMessages: maxMessages, WaitMS: max(wait.Milliseconds(), 0)}
		sess, since := c.state.session, c.state.releases
		c.mu.Unlock()
		var answer pollAnswer
		err := c.t.do(answerWithin(ctx, c.pollWithin(wait)), http.MethodPost, c.path+"/poll", req, &answer)
		if err == nil {
			if answer.rebalance {
				c.heartbeatNow()
			}
			msgs := c.accept(sess, since, handBackCrossed, answer.msgs)
			if len(msgs) > 0 {
				c.startAhead(maxMessages, 0, false)
			}
			return msgs, nil
		}
		if attempt >= 3 || ctx.Err() != nil {
			return nil, err
		}
		switch {
		case isCode(err, api.ErrStaleGeneration):
			c.heartbeat(ctx)
		case mustRejoin(err):
			c.lose(sess) // the next attempt joins again
		default:
			return nil, err
		}
	}
}

// pollWithin bounds each attempt of a poll over HTTP that waits up to
// wait: a coordinator answers it within the wait and what a group's write
// takes (2×readWithin, see groupWrite: it applies the acknowledgements
// it carries, and confirms with a Raft read that it still coordinates
// the group before it hands out messages), so one that leaves it
// unanswered longer is stopped or hung, and the poll goes to the other
// nodes (chase), as a heartbeat does. Without a bound a Poll of
// context.Background, and with it the acknowledgements it flushes and
// the polls ahead it waits for, waited for such a coordinator for as long
// as it stayed so. A poll cut after the coordinator took messages for
// it leaves them in flight for this member: they are delivered again
// after their visibility timeout (at least once).
func (c *Consumer) pollWithin(wait time.Duration) time.Duration {
	return 2*c.t.readWithin + max(wait, 0)
}

// inFlightCap is the broker's cap on the messages this member may hold:
// the one it named, else the one its join's answer told (the group's, or
// the broker's --max-in-flight), else the broker's default. c.mu must be
// held.
func (c *Consumer) inFlightCap() int {
	if n, ok := c.knownCapLocked(); ok {
		return n
	}
	return defaultBrokerMaxInFlight
}

// knownCapLocked is the member's in-flight cap, and whether it is known:
// named by the member (a join naming another than the group's is
// refused) or told by the broker's answer to its join (a broker older
// than api.JoinResponse.MaxInFlight tells none). c.mu must be held.
func (c *Consumer) knownCapLocked() (int, bool) {
	switch {
	case c.cfg.MaxInFlight > 0:
		return c.cfg.MaxInFlight, true
	case c.state.maxInFlight > 0:
		return c.state.maxInFlight, true
	}
	return 0, false
}

// defaultBrokerMaxInFlight is the broker's default per-member in-flight cap
// (api.JoinRequest.MaxInFlight).
const defaultBrokerMaxInFlight = 1000

// crossing is what accept does with messages of a partition released
// since they were polled.
type crossing bool

const (
	// handBackCrossed: a poll's own answer, which the broker may have
	// given after the release as well as before (the partition this
	// member's again): handed back, since only the broker knows.
	handBackCrossed crossing = true
	// dropCrossed: messages that were ahead before the release, which
	// took them back: dropped, as the release's own were (releaseLocked).
	// A hand-back could release a later delivery of the same message,
	// which the stream may push at any time.
	dropCrossed crossing = false
)

// accept records polled messages as held, filtering got in place. Messages
// of a partition being revoked, or released (since the poll was sent, at
// since, a count of releases: the poll crossed a heartbeat; or not given
// back to this member since), are not handed out, also when the partition
// is this member's again: they may have been handed out before the
// release, which took them back. The broker may have counted them
// delivered to this member, so they are not silently dropped but handed
// back at once (a nack with release, no retry spent) for the partition's
// owner; a message the release already handed off is refused harmlessly.
// No poll of this member's is in flight while such a hand-back waits (it
// goes before the next poll, and before the stream's next credit), so it
// never releases a later delivery of the same message. Messages ahead
// before a release since are dropped instead (dropCrossed). A partition
// not yet known is taken: the broker assigned it since the last
// heartbeat (this call's OnAssigned runs before they are returned).
// Messages of a partition whose OnAssigned has not returned yet (see
// memberState.announcing), or that has messages kept back still, are
// kept back (keepLocked), for a Poll after it returned.
// Messages of an earlier session went back when it ended.
func (c *Consumer) accept(sess, since uint64, crossed crossing, got []*Message) []*Message {
	out := got[:0]
	var added api.Assignment
	var kept []*Message // for a later Poll: their partition is announcing
	back := false
	c.mu.Lock()
	if sess != c.state.session {
		c.mu.Unlock()
		return out
	}
	// A poll answer holds runs of messages of one partition: the lookups
	// are made once per run, not per message.
	var (
		last     tp
		lastPart *partState // nil: last's messages go back (or, with drop, nowhere)
		drop     bool
		keep     bool
	)
	for i, m := range got {
		k := tp{m.Topic, m.Partition}
		if i == 0 || k != last {
			last, lastPart, keep = k, nil, false
			_, revoking := c.state.revoking[k]
			crossedRelease := c.state.releasedSinceLocked(k, since)
			drop = crossedRelease && crossed == dropCrossed
			if !revoking && !c.state.released[k] && !crossedRelease {
				switch {
				case c.state.announcing[k] > 0 || len(c.state.kept[k]) > 0:
					keep = true // after those kept back already: in order
				case !c.state.owned[k]:
					c.state.owned[k] = true // assigned since our last heartbeat
					added = addTo(added, k)
					fallthrough
				default:
					lastPart = c.state.partLocked(k)
				}
			}
		}
		if drop {
			continue
		}
		if keep {
			kept = append(kept, m)
			continue
		}
		if lastPart == nil {
			c.state.nacks = append(c.state.nacks, pendingNack{m.ref(), NackOptions{Requeue: true, release: true}})
			back = true
			continue
		}
		m.gen = sess
		lastPart.held.add(m.Offset) // one redelivered while still held is held once: one settlement covers both
		out = append(out, m)
	}
	if kept != nil {
		c.keepLocked(kept, crossed == dropCrossed)
	}
	c.mu.Unlock()
	if back {
		c.signal() // the background goroutine sends them now
	}
	if added != nil {
		c.callback(c.cfg.OnAssigned, added)
	}
	return out
}

// keepLocked keeps back msgs, which accept may not hand out yet (see
// memberState.kept), after those of their partitions kept already: they
// came after those. Taken from the front of the messages polled ahead
// (fromAhead), or a poll's answer with nothing ahead, they also came
// before any other of their partitions' still to be handed out; a poll's
// answer goes after what is ahead instead (which came first), to be kept
// back when Poll reaches it. Releases and hand-backs find them as any
// message polled ahead. c.mu must be held.
func (c *Consumer) keepLocked(msgs []*Message, fromAhead bool) {
	s := &c.state
	if !fromAhead && s.aheadLenLocked() == 0 {
		s.aheadAt = time.Now() // else it dates them, or older ones
	}
	if !fromAhead && (len(s.ahead) > 0 || len(s.aheadRaw) > 0) {
		s.decodeAheadLocked() // answers not decoded yet came before this one
		s.ahead = append(s.ahead, msgs...)
		return
	}
	for _, m := range msgs {
		k := tp{m.Topic, m.Partition}
		s.kept[k] = append(s.kept[k], m)
	}
	s.keptN += len(msgs)
}

// heartbeatNow has the background goroutine heartbeat at once: the broker
// said this member's assignment changed.
func (c *Consumer) heartbeatNow() {
	c.mu.Lock()
	c.state.nextHB = time.Now()
	c.mu.Unlock()
	c.signal()
}

// Ack marks msg processed. It does not block: acknowledgements are sent with
// the next Poll (on the stream, by a member that knows its in-flight cap,
// with the first Poll 2 ms after the last were sent, unless an eighth of the
// cap is queued), by the background goroutine within 10 ms when no Poll
// sends them, or at once by Commit. It returns ErrRevoked if
// msg's partition is no longer this member's, and an error if msg was not
// handed out by this consumer (another consumer's, of this group or
// another, or one read by Fetch).
func (c *Consumer) Ack(msg *Message) error { return c.settle(msg, nil) }

// NackOptions say what to do with a message that failed.
type NackOptions struct {
	// Requeue false dead-letters the message at once (to <topic>.dlq);
	// otherwise it is delivered again after Delay, or the broker's
	// exponential backoff when Delay is 0, until its retries run out.
	// Delay is for Requeue only: NackWith refuses it without.
	Requeue bool
	Delay   time.Duration
	Reason  string // its first 1 KiB (api.DLQMaxReasonBytes) is kept in the dead letter's headers

	release bool // hand back unprocessed (api.AckRequest.Release); set only by accept
}

// Nack reports that msg failed; it is delivered again after the broker's
// backoff (to this member or, after a rebalance, another). Like Ack it does
// not block.
func (c *Consumer) Nack(msg *Message) error {
	return c.settle(msg, &NackOptions{Requeue: true})
}

// NackWith is Nack with options. Options that contradict each other (a
// Delay without Requeue) or a negative Delay are refused with
// INVALID_ARGUMENT, and the message stays held.
func (c *Consumer) NackWith(msg *Message, opts NackOptions) error {
	switch {
	case opts.Delay < 0:
		// Sent in a poll or ack request, the broker refused the whole
		// request, the acknowledgements it carried with it; the stream
		// took it for 0.
		return api.ErrInvalidArgument.Withf("NackOptions.Delay %v is negative", opts.Delay)
	case opts.Delay > 0 && !opts.Requeue:
		return api.ErrInvalidArgument.Withf("NackOptions.Delay %v without Requeue: a message not requeued is dead-lettered at once", opts.Delay)
	}
	return c.settle(msg, &opts)
}

func (c *Consumer) settle(msg *Message, nack *NackOptions) error {
	if msg == nil {
		return errors.New("client: nil message")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.closed {
		return ErrClosed
	}
	if !c.state.handedOutLocked(msg.gen) {
		return fmt.Errorf("client: message %s/%d/%d was not handed out by this consumer", msg.Topic, msg.Partition, msg.Offset)
	}
	k := tp{msg.Topic, msg.Partition}
	if msg.gen != c.state.session || !c.state.ownsLocked(k) {
		return ErrRevoked
	}
	if c.state.settleLocked(k, msg.Offset, nack) {
		c.signal() // a revoked partition may now be drained
	}
	return nil
}

// Commit acknowledges msgs (if not yet) and sends every pending
// acknowledgement now, returning once the broker has applied them: the
// group's committed offset then covers every acknowledged prefix. It waits
// at most CloseTimeout; CommitContext takes a context instead. An
// acknowledgement made after its message's visibility deadline, or after
// the broker took its partition from the member (a revocation not released
// within the rebalance timeout), is refused for that message alone
// (MESSAGE_NOT_IN_FLIGHT, NOT_PARTITION_OWNER): the message is delivered
// again, as the deadline promises (Extend keeps a slow message in time),
// and the error wraps ErrAckLost with how many. An error wrapping
// ErrRevoked says acknowledgements were dropped because the membership
// ended. Both count what happened since the last Commit, CommitAll or
// Close, acknowledgements sent in the background meanwhile included. A
// Commit in progress when Close starts returns ErrClosed: Close commits
// what it was sending, and reports what was lost.
func (c *Consumer) Commit(msgs ...*Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CloseTimeout)
	defer cancel()
	return c.CommitContext(ctx, msgs...)
}

// CommitContext is Commit bounded by ctx.
func (c *Consumer) CommitContext(ctx context.Context, msgs ...*Message) error {
	if c.isClosed() {
		return ErrClosed // Close committed; what it could not is reported by it
	}
	for _, m := range msgs {
		if err := c.Ack(m); err != nil && !errors.Is(err, ErrRevoked) {
			return err
		}
	}
	return c.commit(ctx, c.flushUntilClose)
}

// commit sends what is acknowledged with flush, then reports what a lost
// membership dropped unsent, and what the broker refused as lost, since
// the last commit: a nil answer means every acknowledgement made before
// the call is committed. A flush that Close ended reports nothing: Close
// does.
func (c *Consumer) commit(ctx context.Context, flush func(context.Context, bool) error) error {
	err := flush(ctx, true)
	if errors.Is(err, ErrClosed) {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return errors.Join(err, c.state.takeUnsentLocked())
}

// CommitAll acknowledges every message this member holds (handed out and
// not yet acknowledged or nacked) and commits, as Commit.
func (c *Consumer) CommitAll() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CloseTimeout)
	defer cancel()
	return c.CommitAllContext(ctx)
}

// CommitAllContext is CommitAll bounded by ctx.
func (c *Consumer) CommitAllContext(ctx context.Context) error {
	c.mu.Lock()
	if c.state.closed {
		c.mu.Unlock()
		return ErrClosed // held messages went back to the group on Close
	}
	c.state.settleAllLocked()
	c.mu.Unlock()
	return c.commit(ctx, c.flushUntilClose)
}

// Assignment is the partitions this member owns now.
func (c *Consumer) Assignment() api.Assignment {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.ownedAssignmentLocked()
}

// MemberID is the member ID the broker gave this consumer ("" before the
// first join).
func (c *Consumer) MemberID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.member
}

// Close commits and leaves the group, as the graceful shutdown of a
// consumer should: with AutoCommit, everything Poll returned counts as
// processed; without it, what was acknowledged is committed and the rest is
// redelivered to the partitions' next owners at once. It waits at most
// CloseTimeout for the broker, and as long again for a callback in
// progress: one that has not returned by then is left running, and Close
// commits and leaves without calling OnRevoked (the callbacks run one at a
// time) and says so in its error. OnRevoked, which Close calls with the
// partitions the member owns, is waited for within the same bound: one
// that has not returned by then is left running too, and Close commits
// and leaves and says so. No goroutine of the consumer outlives Close but
// one in a callback that has not returned. A Poll, Commit or CommitAll sending
// acknowledgements meanwhile (to a hung broker, say, which would hold them
// for several attempts) stops and returns ErrClosed, and Close commits
// what it was sending. A second Close returns nil once the first has
// returned.
func (c *Consumer) Close() error {
	c.mu.Lock()
	if c.state.closed {
		c.mu.Unlock()
		<-c.closeDone // a Close in progress (a signal handler's, a defer's)
		return nil
	}
	c.state.closed = true
	c.startClose(ErrClosed)
	defer close(c.closeDone)
	jc := c.joining // no join starts after this
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CloseTimeout)
	defer cancel()
	if jc != nil {
		// Let a join the broker may be applying end, to leave the member
		// it makes; at most half the time, then stop ends it, and what is
		// left goes to the leave.
		t := time.NewTimer(c.cfg.CloseTimeout / 2)
		select {
		case <-jc.done:
		case <-t.C:
		}
		t.Stop()
	}
	c.stop()
	// The stream before the background goroutine is waited for: its
	// write to a broker that stopped reading, which the stream's write
	// bound (an ack's) may end only after CloseTimeout, ends now.
	readers := c.closeStream()
	stuck := false // a callback that has not returned holds a goroutine stop ends
	if jc != nil {
		select {
		case <-jc.done:
		case <-ctx.Done(): // an OnAssigned that does not return
			stuck = true
		}
	}
	select {
	case <-c.done:
	case <-ctx.Done(): // the background goroutine in an OnAssigned of a heartbeat's answer
		stuck = true
	}
	select {
	case <-readers:
	case <-ctx.Done(): // a stream's reader in an OnLost
		stuck = true
	}
	if stuck {
		// A second CloseTimeout for the commit and the leave: the broker
		// then redelivers at once what the member held, rather than after
		// its session timeout.
		cancel()
		ctx, cancel = context.WithTimeout(context.Background(), c.cfg.CloseTimeout)
		defer cancel()
	}
	defer c.t.hc.CloseIdleConnections()

	c.mu.Lock()
	unanswered := c.joinID
	if c.cfg.AutoCommit {
		c.state.settleAllLocked()
	}
	member, owned := c.state.member, c.state.ownedAssignmentLocked()
	if member == "" {
		err := c.state.takeUnsentLocked()
		c.mu.Unlock()
		if stuck {
			err = errors.Join(fmt.Errorf("a callback did not return within CloseTimeout (%v)", c.cfg.CloseTimeout), err)
		}
		if unanswered != "" {
			// A join was sent and never answered: the broker may have
			// made the member. Best effort: it may as well not have.
			_ = c.t.do(ctx, http.MethodPost, c.path+"/leave", api.LeaveRequest{MemberID: unanswered}, nil)
		}
		if err != nil {
			return fmt.Errorf("client: close consumer of group %q: %w", c.cfg.GroupID, err)
		}
		return nil
	}
	c.mu.Unlock()
	var cerr error
	if stuck {
		cerr = fmt.Errorf("a callback did not return within CloseTimeout (%v): OnRevoked not called", c.cfg.CloseTimeout)
	} else if called, returned := c.callbackWithin(ctx, c.cfg.OnRevoked, owned); !returned {
		// A callback of the application's goroutine (an OnAssigned a
		// Poll called) that has not returned, so OnRevoked not called;
		// or OnRevoked, left running.
		cerr = fmt.Errorf("a callback did not return within CloseTimeout (%v): OnRevoked not called", c.cfg.CloseTimeout)
		if called {
			cerr = fmt.Errorf("OnRevoked did not return within CloseTimeout (%v): left running", c.cfg.CloseTimeout)
		}
		cancel()
		ctx, cancel = context.WithTimeout(context.Background(), c.cfg.CloseTimeout)
		defer cancel()
	}
	ferr := c.commit(ctx, c.flush)
	lerr := c.t.do(ctx, http.MethodPost, c.path+"/leave", api.LeaveRequest{MemberID: member}, nil)
	if lerr != nil && mustRejoin(lerr) {
		lerr = nil // already gone
	}
	if err := errors.Join(cerr, ferr, lerr); err != nil {
		return fmt.Errorf("client: close consumer of group %q: %w", c.cfg.GroupID, err)
	}
	return nil
}

func (c *Consumer) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.closed
}

// announce calls OnAssigned with added, the partitions that a join or
// heartbeat of session sess made this member's (and marked announcing),
// and then lets Poll hand out their messages: accept keeps them back
// until then, so that the application has set up what it keeps per
// partition before it sees one (Kafka's listener contract). Nothing waits
// for the callback here: a slow one delays those partitions' messages
// only, and one that never returns holds no lock Close or Poll needs.
func (c *Consumer) announce(sess uint64, added api.Assignment) {
	if len(added) == 0 {
		return
	}
	parts := partsOf(added) // before the callback, which may alter added
	c.callback(c.cfg.OnAssigned, added)
	c.mu.Lock()
	if sess == c.state.session { // else reset with the membership that marked them
		c.state.announcedLocked(parts)
	}
	c.mu.Unlock()
	select {
	case c.arrived <- struct{}{}: // a Poll waiting on the stream takes them now
	default:
	}
}

// callback calls f (if set) with parts, one callback at a time, on the
// caller's goroutine; not if the consumer closes (life ends) while it
// waits for another callback to return. Close may give up on that one,
// and a goroutine of the consumer waiting for its turn (the background
// goroutine's OnAssigned, while a stream reader's OnLost did not return)
// outlived Close, to call f after it.
func (c *Consumer) callback(f func(api.Assignment), parts api.Assignment) {
	if f == nil || len(parts) == 0 {
		return
	}
	select {
	case c.cbTurn <- struct{}{}:
	default:
		select {
		case c.cbTurn <- struct{}{}:
		case <-c.life.Done():
			return
		}
	}
	defer func() { <-c.cbTurn }()
	f(parts)
}

// callbackWithin is callback for Close, bounded by ctx: it gives up when
// ctx is done before the callback in progress, if any, has returned
// (called false: f is not called), or before f has (returned false: f is
// left running, on a goroutine of its own that gives the turn back when f
// returns, the one goroutine of the consumer that outlives Close).
func (c *Consumer) callbackWithin(ctx context.Context, f func(api.Assignment), parts api.Assignment) (called, returned bool) {
	if f == nil || len(parts) == 0 {
		return true, true
	}
	select {
	case c.cbTurn <- struct{}{}:
	case <-ctx.Done():
		return false, false
	}
	ret := make(chan struct{})
	go func() {
		defer func() { <-c.cbTurn }()
		defer close(ret)
		f(parts)
	}()
	select {
	case <-ret:
		return true, true
	case <-ctx.Done():
		return true, false
	}
}

// signal wakes the background goroutine (run): it heartbeats if due, and
// looks again at what it has to release, send and hand back.
func (c *Consumer) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// mustRejoin reports an error after which the member must join again:
// the broker no longer knows it, or no longer knows the group (deleted, or a
// broker restart forgot a group that had no committed offsets).
func mustRejoin(err error) bool {
	return isCode(err, api.ErrUnknownMember) || isCode(err, api.ErrFencedMember) || isCode(err, api.ErrGroupNotFound)
}
