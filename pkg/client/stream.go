package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// The consumer stream (api.StreamPath; the default, ConsumerConfig.NoStream): once joined, a member subscribes on
// one long-lived connection and the broker pushes its deliveries while the
// member has credit, so no message waits for the member's next poll and no
// request is made per poll. Deliveries go where polled-ahead answers go
// (memberState.aheadRaw), so Poll hands them out, and hands back what it
// does not take in time, exactly as it does those. The consumer grants
// credit up to the in-flight cap, less what it holds and has ahead and
// what it granted already; acknowledgements go as frames when they are
// flushed. Joins, heartbeats and leaves stay HTTP; a heartbeat subscribes
// again with the member's generation. A broker without the stream (404)
// is polled over HTTP for the consumer's life; a stream that fails is
// dialled again after streamRetryAfter, and polled over HTTP meanwhile.

// streamSub is the id of a stream's one subscription.
const streamSub = 1

// streamRetryAfter is how long after a stream failed (or could not be
// opened) the consumer polls over HTTP before it dials again.
const streamRetryAfter = time.Second

// A member polling a few messages at a time sent, with every Poll, an ACK
// frame and a PING, and read a PONG: each a write and a wake-up on both
// sides, which cost the broker a third of its CPU at 20k msg/s and put
// the tail of delivery latency behind them. A Poll's flush (one that does
// not wait) now sends the acknowledgements queued only once ackLinger has
// passed since the last were sent, or when they are many (ackBatch), and
// a PING only when none is out and the last went confirmEvery ago; the
// background goroutine sends what no Poll did within confirmEvery
// (streamDueLocked, flushStreamDue), without waiting either, so that Polls do not queue
// behind a round trip. A flush that waits (Commit, Close, a heartbeat
// round's) sends all, and PINGs.
// Frames no PONG confirmed yet are only sent again should the stream
// fail (an acknowledgement applied twice is refused as settled, not
// counted lost), and acknowledgements held back a moment count against
// the in-flight cap only that long.
const (
	ackLinger    = 2 * time.Millisecond
	confirmEvery = 10 * time.Millisecond
)

// maxStreamFrame bounds the frames the client reads: a delivery is a poll
// answer, at most the broker's poll byte bound and its framing.
const maxStreamFrame = 128 << 20

var (
	// errNoStream: the broker does not serve the stream (an older broker).
	errNoStream = errors.New("client: broker has no stream")
	// errStreamGone: the stream failed or belongs to an ended session;
	// what it was to carry goes over HTTP.
	errStreamGone = errors.New("client: consumer stream closed")
	// errStreamRefused: the broker refused settlements on the stream that
	// may succeed over HTTP (after a heartbeat): they are queued again.
	errStreamRefused = errors.New("client: settlements refused on the stream")
)

// consumerStream is one session's stream. Its reader goroutine
// (Consumer.readStream) alone reads conn; frames are written through w by
// any goroutine.
type consumerStream struct {
	conn net.Conn
	br   *bufio.Reader
	w    *api.StreamWriter
	sess uint64        // the session subscribed; immutable
	done chan struct{} // closed when the reader has returned
	ids  atomic.Uint32 // the last frame id used

	// creditMu is held across a credit decision and its CREDIT frame
	// (topUp, a revocation at a flush, releaseDrained marking a release),
	// so that the frames go out in the order the decisions were made. Not
	// taken under c.mu or mu.
	creditMu sync.Mutex

	mu      sync.Mutex
	pongs   map[uint32]chan struct{} // guarded by mu: PINGs awaiting their PONG
	sent    map[uint32]*sentSettle   // guarded by mu: settle frames no PONG has confirmed yet
	granted int                      // guarded by mu: credit granted and not yet delivered
	pingOut uint32                   // guarded by mu: the last PING sent, until a PONG answers it or a later one (0: none out)
	pingAt  time.Time                // guarded by mu: when the last PING went
	ackAt   time.Time                // guarded by mu: when the last settle frames went
	// refused is set when the broker refuses a settle frame with a
	// retriable error (its acknowledgements are queued again), and read and
	// cleared by the next flush that waits for a PONG: that flush's commit
	// must not report them applied, whichever flush sent them.
	refused  bool // guarded by mu
	revoke   bool // guarded by mu: set the credit to 0 at the next flush
	subEnded bool // guarded by mu: the broker ended the subscription; the next heartbeat subscribes again
}

// sentSettle is what one ACK or NACK frame carried, kept until a PONG
// confirms it applied, to be queued again if the stream fails first.
type sentSettle struct {
	acks  []api.OffsetRange
	nacks []pendingNack
}

// dialStream opens the stream on the broker that answered last (the
// group's coordinator, if known), authenticated as any request, within a
// group's write's bound (twice a read's): a broker answers the upgrade at
// once, and one that takes the connection and answers nothing (stopped,
// hung) held the Poll dialling it until its context's deadline, however
// far (openStream's own bound is for a context without one).
func (t *transport) dialStream(ctx context.Context, dial dialer, group string) (net.Conn, *bufio.Reader, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*t.readWithin)
	defer cancel()
	base, _ := t.anyBroker()
	if v, ok := t.coordinators.Load(group); ok {
		base = v.(string)
	}
	var tlsConfig *tls.Config
	if tr, ok := t.hc.Transport.(*http.Transport); ok {
		tlsConfig = tr.TLSClientConfig
	}
	conn, br, _, err := openStream(ctx, dial, base, t.apiKey, tlsConfig)
	return conn, br, err
}

// openStream connects to base (a base URL) through dial and switches the
// connection to the stream, sending apiKey as any request does; an https
// base is spoken to over TLS with tlsConfig (nil: the defaults). It
// returns the connection, the reader the frames are to be read from and
// the broker's answer's header (api.StreamFramesHeader), or errNoStream
// from a broker without the stream.
func openStream(ctx context.Context, dial dialer, base, apiKey string, tlsConfig *tls.Config) (net.Conn, *bufio.Reader, http.Header, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, nil, nil, err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), map[bool]string{true: "443", false: "80"}[u.Scheme == "https"])
	}
	conn, err := dial(ctx, "tcp", host)
	if err != nil {
		return nil, nil, nil, &connError{err: err}
	}
	if u.Scheme == "https" {
		cfg := &tls.Config{}
		if tlsConfig != nil {
			cfg = tlsConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		conn = tls.Client(conn, cfg)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+api.StreamPath, nil)
	if err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", api.StreamProtocol)
	if apiKey != "" {
		req.Header.Set("X-API-Key", apiKey)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	} else {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
	}
	// The deadline does not see ctx cancelled: a deadline passed ends
	// the wait for the answer then.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := func() (*http.Response, error) {
		if err := req.Write(conn); err != nil {
			return nil, err
		}
		return http.ReadResponse(br, req)
	}()
	if !stop() && err == nil {
		resp.Body.Close()
		err = ctx.Err() // the deadline may be past: the connection is of no use
	}
	if err != nil {
		conn.Close()
		return nil, nil, nil, &connError{err: err}
	}
	switch resp.StatusCode {
	case http.StatusSwitchingProtocols:
		conn.SetDeadline(time.Time{})
		return conn, br, resp.Header, nil
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		resp.Body.Close()
		conn.Close()
		return nil, nil, nil, errNoStream
	}
	defer conn.Close()
	defer resp.Body.Close()
	return nil, nil, nil, decodeError(resp)
}

// streamFor returns this session's stream, opening it if the consumer has
// none and the broker serves it; nil means poll over HTTP.
func (c *Consumer) streamFor(ctx context.Context) *consumerStream {
	if c.cfg.NoStream || c.cfg.SerialPolls || c.noStream.Load() {
		return nil // SerialPolls: nothing in flight beyond what Poll returned, so nothing pushed
	}
	c.mu.Lock()
	s := &c.state
	st := c.stream
	if st != nil && (st.sess != s.session || st.closed()) {
		c.stream = nil
		st.conn.Close() // its reader returns; Close waits for it
		st = nil
	}
	if st != nil || !s.joined || s.closed || time.Now().Before(c.streamRetry) {
		c.mu.Unlock()
		return st
	}
	c.streamRetry = time.Now().Add(streamRetryAfter)
	sub := api.StreamSubscription{Group: c.cfg.GroupID, MemberID: s.member, Generation: s.generation}
	sess := s.session
	c.mu.Unlock()

	conn, br, err := c.t.dialStream(ctx, c.dial, esc(c.cfg.GroupID))
	if errors.Is(err, errNoStream) {
		c.noStream.Store(true)
	}
	if err != nil {
		return nil
	}
	// Each write within an ack's bound: a coordinator stopped or hung
	// with the connection whole stops reading, and once the socket's
	// buffers filled a write blocked for as long as it stayed so, holding
	// flushMu (a Poll, Commit, the background goroutine's flush) or
	// creditMu. A write cut so closes the connection: the stream fails as
	// a broken one does, its reader queues again what no PONG confirmed,
	// and it goes as requests, which pass the node.
	st = &consumerStream{conn: conn, br: br, w: api.NewStreamConnWriter(conn, c.settleWithin()), sess: sess, done: make(chan struct{}),
		pongs: map[uint32]chan struct{}{}, sent: map[uint32]*sentSettle{}}
	st.ids.Store(streamSub)
	if st.w.Write(api.StreamSubscribe, streamSub, sub.Append(nil)) != nil {
		conn.Close()
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if sess != c.state.session || c.state.closed || c.stream != nil {
		conn.Close()
		return nil
	}
	c.stream = st
	c.streamWG.Go(func() { c.readStream(st) })
	return st
}

func (st *consumerStream) closed() bool {
	select {
	case <-st.done:
		return true
	default:
		return false
	}
}

// endStreamLocked ends the stream of a membership that is ending (lost,
// or about to be replaced by a join): the acknowledgements on its frames
// that no PONG confirmed are counted as dropped unsent, as resetLocked
// counts those not sent, and its connection is closed. Applied or not,
// they cannot be sent again under that membership, and its reader would
// count them only once it returned, unseen by a commit made meanwhile.
// c.mu must be held.
func (c *Consumer) endStreamLocked() {
	st := c.stream
	if st == nil || st.sess != c.state.session {
		return // an older session's: ended when that one did
	}
	st.mu.Lock()
	sent := st.sent
	st.sent = nil // the reader has nothing more to queue; send queues its own
	st.mu.Unlock()
	for _, rec := range sent {
		c.state.dropUnsentLocked(rec.acks)
	}
	st.conn.Close()
}

// closeStream closes the consumer's stream, if any, and returns a
// channel closed once the streams' readers have returned: one may be in
// a callback (OnLost) that does not return, which Close must not wait
// for past its bound. No reader starts after Close began (streamFor).
// Messages the stream pushed and Poll did not take stay ahead: they go
// back with the member's leave, as polled-ahead ones do.
func (c *Consumer) closeStream() <-chan struct{} {
	c.mu.Lock()
	st := c.stream
	c.stream = nil
	c.mu.Unlock()
	if st != nil {
		st.conn.Close()
	}
	return c.streamWG.Idle()
}

// resubscribe tells the stream the member's generation after a
// heartbeat, and subscribes again if the broker ended the subscription.
func (c *Consumer) resubscribe() {
	c.mu.Lock()
	st, s := c.stream, &c.state
	if st == nil || st.sess != s.session || !s.joined {
		c.mu.Unlock()
		return
	}
	sub := api.StreamSubscription{Group: c.cfg.GroupID, MemberID: s.member, Generation: s.generation}
	c.mu.Unlock()
	st.mu.Lock()
	st.subEnded = false
	st.mu.Unlock()
	st.w.Write(api.StreamSubscribe, streamSub, sub.Append(nil)) // a failed write fails the reader too
}

// readStream is st's reader: it applies what the broker sends until the
// connection fails or closes, then queues again what no PONG confirmed.
func (c *Consumer) readStream(st *consumerStream) {
	defer func() {
		st.conn.Close()
		st.mu.Lock()
		sent := st.sent
		st.sent = nil
		st.mu.Unlock()
		for _, rec := range sent {
			c.requeue(st.sess, rec.acks, rec.nacks) // applied or not: sent again over HTTP, at least once
		}
		close(st.done)
		c.signal() // run flushes what was queued again
	}()
	rd := api.NewStreamReader(st.br, maxStreamFrame)
	for {
		f, err := rd.Read()
		if err != nil {
			return
		}
		switch f.Type {
		case api.StreamDeliver:
			if !c.streamDelivered(st, f.Payload) {
				return
			}
		case api.StreamAssign:
			c.heartbeatNow()
		case api.StreamSettled:
			e, err := api.ParseStreamError(f.Payload)
			if err != nil {
				return
			}
			c.streamRefused(st, f.ID, e)
		case api.StreamPong:
			if st.pong(f.ID) {
				c.mu.Lock()
				c.rearmLocked() // frames sent after its PING: run PINGs, if no Poll does
				c.mu.Unlock()
			}
		case api.StreamError:
			e, err := api.ParseStreamError(f.Payload)
			if err != nil || f.ID != streamSub {
				return // the stream as a whole was refused
			}
			switch {
			case isCode(e, api.ErrStaleGeneration):
				st.mu.Lock()
				st.subEnded = true
				st.mu.Unlock()
				c.heartbeatNow() // and subscribe again with its generation
			case mustRejoin(e):
				c.lose(st.sess)
				return
			default:
				return // polled over HTTP, which handles the rest
			}
		default:
			return
		}
	}
}

// streamDelivered puts one delivery with the messages polled ahead; false
// if it does not decode.
func (c *Consumer) streamDelivered(st *consumerStream, body []byte) bool {
	n, _, err := storedCount(body)
	if err != nil {
		return false
	}
	st.mu.Lock()
	st.granted = max(st.granted-n, 0)
	st.mu.Unlock()
	c.mu.Lock()
	if s := &c.state; st.sess == s.session && s.joined && !s.closed {
		if s.aheadLenLocked() == 0 {
			s.aheadAt = time.Now()
		}
		s.aheadRaw = append(s.aheadRaw, rawAnswer{body, n})
	}
	// else the session ended: the broker took its messages back with it
	c.mu.Unlock()
	select {
	case c.arrived <- struct{}{}:
	default:
	}
	return true
}

// streamRefused applies a SETTLED answer: what the broker refused of frame
// id, judged as send judges an ack or nack request's answer.
func (c *Consumer) streamRefused(st *consumerStream, id uint32, e *api.Error) {
	st.mu.Lock()
	rec := st.sent[id]
	delete(st.sent, id) // answered: not to be queued again if the stream fails before the PONG
	st.mu.Unlock()
	if rec == nil {
		return
	}
	switch {
	case isCode(e, api.ErrNotInFlight), isCode(e, api.ErrNotOwner):
		if len(rec.acks) > 0 { // an ACK frame's, not a NACK's
			c.countLost(e)
		}
	case mustRejoin(e):
		c.lose(st.sess)
		c.dropUnsent(rec.acks)
	case isCode(e, api.ErrStaleGeneration) || e.Retriable:
		c.requeue(st.sess, rec.acks, rec.nacks)
		st.mu.Lock()
		st.refused = true // read by the next waiting flush, after the PONG that follows
		st.mu.Unlock()
		if isCode(e, api.ErrStaleGeneration) {
			c.heartbeatNow()
		} else {
			c.signal() // run sends them again
		}
	default:
		c.dropUnsent(rec.acks) // see refused
	}
}

// pong confirms every settle frame sent before PING id, and reports
// whether frames sent after it are left with no PING out. Ids are compared
// as serial numbers (RFC 1982), so that a frame sent after the ids wrapped
// is not taken for one sent before.
func (st *consumerStream) pong(id uint32) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	for k := range st.sent {
		if int32(k-id) < 0 {
			delete(st.sent, k)
		}
	}
	if st.pingOut != 0 && int32(id-st.pingOut) >= 0 {
		st.pingOut = 0
	}
	if ch := st.pongs[id]; ch != nil {
		close(ch)
		delete(st.pongs, id)
	}
	return len(st.sent) > 0 && st.pingOut == 0
}

// topUp sets the broker's credit to the in-flight cap less what the
// member has ahead (a CREDIT replaces the last). What it holds is not
// subtracted: the broker's cap counts it already, and a settle wakes the
// subscription's poll that the cap held back, so the broker refills as
// soon as acknowledgements free room instead of at the next Poll.
func (c *Consumer) topUp(st *consumerStream) error {
	st.creditMu.Lock()
	defer st.creditMu.Unlock()
	c.mu.Lock()
	capN := c.inFlightCap()
	want := max(capN-c.state.aheadLenLocked(), 0)
	if c.releasing {
		want = 0 // releaseDrained took the credit back, and tops it up after
	}
	c.mu.Unlock()
	st.mu.Lock()
	// Small raises are not worth a frame each: wait until a tenth of the
	// cap more is free (or nothing is granted at all).
	if want == 0 || (st.granted > 0 && want-st.granted < capN/10) {
		st.mu.Unlock()
		return nil
	}
	st.granted, st.revoke = want, false
	st.mu.Unlock()
	return st.w.Write(api.StreamCredit, streamSub, api.AppendStreamCredit(nil, uint32(want)))
}

// revokeCreditLocked takes back the broker's credit at the next flush,
// before the messages ahead are handed back: they must not be pushed
// again until the application polls. c.mu must be held.
func (c *Consumer) revokeCreditLocked() {
	if st := c.stream; st != nil {
		st.mu.Lock()
		st.revoke = true
		st.mu.Unlock()
	}
}

// confirmDue reports whether settle frames sent without a PING are to
// have one now: none is out, and the last went confirmEvery ago.
func (st *consumerStream) confirmDue(now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.sent) > 0 && st.pingOut == 0 && now.Sub(st.pingAt) >= confirmEvery
}

// settleDueLocked reports whether a Poll's flush on st is to send the
// settlements queued now (see ackLinger). c.mu must be held.
func (c *Consumer) settleDueLocked(st *consumerStream, consumed bool, now time.Time) bool {
	s := &c.state
	n := s.ackedN
	if consumed {
		n += s.consumedN
	}
	if len(s.nacks) > 0 || n >= c.ackBatch() {
		return true
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return now.Sub(st.ackAt) >= ackLinger
}

// ackBatch is how many acknowledgements a Poll's flush sends at once,
// however soon after the last: an eighth of the in-flight cap, which
// they hold at the broker until sent. A member that does not know its
// cap (it named none, and a broker older than the join answer's
// max_in_flight told none) holds none back: the group's creator or the
// broker's --max-in-flight may have made the cap as small as 1, and the
// broker would hold the next message back for every acknowledgement
// held back. c.mu must be held.
func (c *Consumer) ackBatch() int {
	n, ok := c.knownCapLocked()
	if !ok {
		return 1
	}
	return max(n/8, 1)
}

// streamDueLocked is when the background goroutine is to flush on the
// current session's stream what no Poll sent (zero: nothing waits): the
// acknowledgements held back, or a PING to confirm settle frames sent
// without one, each confirmEvery after the last were sent. Not ackLinger:
// a member that polls sends them itself a moment after that, and would
// have the background goroutine woken every ackLinger only to find them
// sent. c.mu must be held.
func (c *Consumer) streamDueLocked() time.Time {
	st := c.stream
	if st == nil || st.sess != c.state.session || st.closed() {
		return time.Time{} // failed: flushLocked sends over HTTP, and a refusal waits for the next round
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var due time.Time
	if len(st.sent) > 0 && st.pingOut == 0 {
		due = st.pingAt.Add(confirmEvery)
	}
	if c.state.ackedN > 0 {
		if at := st.ackAt.Add(confirmEvery); due.IsZero() || at.Before(due) {
			due = at
		}
	}
	return due
}

// rearmLocked has run wake when streamDueLocked says, if that is
// sooner than its timer: nothing else wakes it for acknowledgements
// held back, or frames no PING went after. c.mu must be held.
func (c *Consumer) rearmLocked() {
	if due := c.streamDueLocked(); !due.IsZero() && due.Before(c.runAt) {
		select {
		case c.rearm <- struct{}{}:
		default:
		}
	}
}

// liveStream is the stream of the current session, nil if none.
func (c *Consumer) liveStream() *consumerStream {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stream
	if st == nil || st.sess != c.state.session || st.closed() {
		return nil
	}
	return st
}

// flushStreamLocked sends the queued acknowledgements and nacks (with
// consumed, also what AutoCommit counts as processed) as frames on st,
// then a PING. With wait it returns once the PONG says the broker applied
// them; errStreamGone or errStreamRefused then mean some are queued again
// for HTTP. flushMu must be held.
func (c *Consumer) flushStreamLocked(ctx context.Context, st *consumerStream, consumed, wait bool) error {
	c.mu.Lock()
	s := &c.state
	if st.sess != s.session {
		c.mu.Unlock()
		return errStreamGone
	}
	var acks []api.OffsetRange
	var nacks []pendingNack
	now := time.Now()
	if wait || c.settleDueLocked(st, consumed, now) {
		acks, nacks = s.takeAcksLocked(consumed), s.nacks
		s.nacks = nil
	} else {
		c.rearmLocked() // run sends them, if no Poll does
	}
	c.mu.Unlock()
	if len(acks) > 0 || len(nacks) > 0 {
		st.mu.Lock()
		st.ackAt = now
		st.mu.Unlock()
	}
	st.creditMu.Lock()
	st.mu.Lock()
	revoke := st.revoke
	if revoke {
		st.granted, st.revoke = 0, false
	}
	st.mu.Unlock()
	if revoke && st.w.Write(api.StreamCredit, streamSub, api.AppendStreamCredit(nil, 0)) != nil {
		st.creditMu.Unlock()
		c.requeue(st.sess, acks, nacks)
		return errStreamGone
	}
	st.creditMu.Unlock()
	if len(acks) == 0 && len(nacks) == 0 && !wait && !st.confirmDue(now) {
		return nil
	}
	send := func(t api.StreamType, p api.StreamSettle, rec *sentSettle) error {
		id := st.ids.Add(1)
		st.mu.Lock()
		if st.sent == nil { // the reader returned: it queued again what it had
			st.mu.Unlock()
			c.requeue(st.sess, rec.acks, rec.nacks)
			return errStreamGone
		}
		st.sent[id] = rec
		st.mu.Unlock()
		p.Sub = streamSub
		if err := st.w.Write(t, id, p.Append(nil)); err != nil {
			return errStreamGone // the reader fails too, and queues it again
		}
		return nil
	}
	for len(acks) > 0 {
		req, rest := nextRequest(acks)
		if err := send(api.StreamAck, api.StreamSettle{Ranges: req}, &sentSettle{acks: req}); err != nil {
			c.requeue(st.sess, rest, nacks)
			return err
		}
		acks = rest
	}
	for len(nacks) > 0 {
		// Frames per run of nacks with the same options, as flushLocked's requests.
		var opts NackOptions
		var refs []api.MessageRef
		opts, refs, nacks = nextNackRun(nacks)
		for len(refs) > 0 {
			ranges, k := rangesOf(refs)
			p := api.StreamSettle{Ranges: ranges, Reject: !opts.Requeue, Release: opts.release,
				DelayMS: uint32(min(max(opts.Delay.Milliseconds(), 0), 1<<32-1)), Reason: opts.Reason}
			if err := send(api.StreamNack, p, &sentSettle{nacks: nacksOf(refs[:k], opts)}); err != nil {
				c.requeue(st.sess, nil, append(nacksOf(refs[k:], opts), nacks...))
				return err
			}
			refs = refs[k:]
		}
	}
	ping := st.ids.Add(1)
	st.mu.Lock()
	if !wait && (st.pingOut != 0 || now.Sub(st.pingAt) < confirmEvery) {
		st.mu.Unlock()
		c.mu.Lock()
		c.rearmLocked() // run PINGs, if no Poll does
		c.mu.Unlock()
		return nil // a later PING confirms them (streamDueLocked)
	}
	var pong chan struct{}
	if wait {
		pong = make(chan struct{})
		st.pongs[ping] = pong
	}
	st.pingOut, st.pingAt = ping, now
	st.mu.Unlock()
	if err := st.w.Write(api.StreamPing, ping); err != nil {
		return errStreamGone
	}
	if !wait {
		return nil
	}
	// A coordinator stopped or hung with the stream's connection whole
	// sends no PONG: the background goroutine's flush waited for it for
	// as long as it stayed so, holding flushMu, and with it Poll, Commit
	// and the member's heartbeats. The PONG comes once the broker has
	// applied the frames before it, acknowledgements answered within an
	// ack's bound (settleWithin): past it the stream counts as gone
	// (flushLocked closes it, its reader queues again what no PONG
	// confirmed), and what it held goes as requests, which pass the node.
	late := time.NewTimer(c.settleWithin())
	defer late.Stop()
	select {
	case <-pong:
	case <-st.done:
		return errStreamGone
	case <-late.C:
		return errStreamGone
	case <-ctx.Done():
		return ctx.Err()
	}
	// SETTLED answers come before the PONG: what was queued again for a
	// retriable refusal, of this flush's frames or of an earlier flush's
	// that did not wait, is queued by now.
	st.mu.Lock()
	refused := st.refused
	st.refused = false
	st.mu.Unlock()
	if refused {
		return errStreamRefused
	}
	return nil
}

// pollStream is Poll on the stream: it sends the acknowledgements pending,
// grants credit, and waits up to wait for a delivery. errStreamGone means
// the stream failed: Poll polls over HTTP.
func (c *Consumer) pollStream(ctx context.Context, st *consumerStream, maxMessages int, commit bool, wait time.Duration) ([]*Message, error) {
	c.flushMu.Lock()
	err := c.flushStreamLocked(ctx, st, commit, false)
	c.flushMu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := c.topUp(st); err != nil {
		return nil, errStreamGone
	}
	if wait <= 0 {
		return c.takeAhead(maxMessages), nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		if msgs := c.takeAhead(maxMessages); len(msgs) > 0 {
			// What was ahead is handed out: room for more may be
			// granted now, while the application processes these.
			c.topUp(st)
			return msgs, nil
		}
		select {
		case <-c.arrived:
		case <-t.C:
			return c.takeAhead(maxMessages), nil
		case <-st.done:
			return nil, errStreamGone
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			return nil, ErrClosed
		}
	}
}
