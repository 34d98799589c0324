package httpapi

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/budget"
)

// The stream (api.StreamPath): a member subscribes on a long-lived
// connection and the broker pushes deliveries while the member has credit;
// a producer sends PRODUCE frames on one, back to back, each written and
// answered in turn as POST /topics/{t}/batches would be, without a request
// and its headers to parse per batch. Each subscription is the member's
// poll, run by a goroutine of its own against the coordinator's stored
// poll with the credit as its limit and the longest wait: every delivery
// rule (leases, redeliveries, the in-flight cap, the DLQ, handoff) is the
// HTTP poll's. Settling is POST /ack's, /nack's and /extend's. Closing the
// stream is not leaving: the member's session runs on until its timeout,
// as when a poll's connection drops.

// streams tracks the streams being served, which http.Server.Shutdown
// neither closes nor waits for once hijacked.
type streams struct {
	mu     sync.Mutex
	closed bool               // guarded by mu: no new stream once set
	wg     sync.WaitGroup     // one per stream served
	ctx    context.Context    // cancelled by Shutdown: every stream ends
	cancel context.CancelFunc // immutable
}

func newStreams() *streams {
	ctx, cancel := context.WithCancel(context.Background())
	return &streams{ctx: ctx, cancel: cancel}
}

// start counts a new stream in, unless shutting down.
func (st *streams) start() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return false
	}
	st.wg.Add(1)
	return true
}

// Shutdown ends every stream and waits until their goroutines
// have returned, or ctx is done. Call it as the http.Server shuts down:
// the server does not track connections it handed over.
func (s *Server) Shutdown(ctx context.Context) error {
	st := s.streams
	st.mu.Lock()
	st.closed = true
	st.mu.Unlock()
	st.cancel()
	done := make(chan struct{})
	go func() { st.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stream serves GET /stream: it switches the connection to the stream
// protocol and serves it until it closes or the server shuts down.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) error {
	if !api.HeaderHasToken(r.Header, "Connection", "upgrade") || !strings.EqualFold(r.Header.Get("Upgrade"), api.StreamProtocol) {
		return api.ErrBadRequest.Withf("GET %s switches protocols: it takes Connection: Upgrade and Upgrade: %s", api.StreamPath, api.StreamProtocol).
			WithDetail("upgrade", api.StreamProtocol)
	}
	if s.draining.Load() || !s.streams.start() {
		return api.ErrUnavailable.Withf("the broker is shutting down")
	}
	defer s.streams.wg.Done()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return api.ErrInternal.Withf("cannot switch protocols on this connection: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Time{}) // the server's read and write timeouts are a request's, not a stream's
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + api.StreamProtocol +
		"\r\n" + api.StreamFramesHeader + ": " + api.StreamProduceFrames + "\r\n\r\n")
	if brw.Flush() != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.streams.ctx, cancel)
	defer stop()
	// Each write bounded: a client that stops reading otherwise held the
	// write, the subscription's goroutine, the frame being answered (up
	// to --max-body-bytes) and the connection for as long as it stayed
	// connected.
	sc := &streamConn{s: s, r: r, host: peerHost(r), w: api.NewStreamConnWriter(conn, s.opts.StreamWriteTimeout),
		subs: map[uint32]*subscription{}}
	sc.serve(ctx, conn, brw.Reader)
	return nil
}

// streamConn is one stream. Its frames are read and applied in order by
// serve's goroutine, which alone touches subs; each subscription's
// goroutine writes its deliveries through w.
type streamConn struct {
	s    *Server
	r    *http.Request // the upgrade: its key's scope authorizes subscriptions
	host string
	w    *api.StreamWriter
	subs map[uint32]*subscription // owned by serve's goroutine
	wg   sync.WaitGroup           // the subscriptions' goroutines
	// answer is the PRODUCED payload being written; owned by serve's
	// goroutine.
	answer []byte
}

// serve reads frames until the connection fails or ctx ends, then stops
// every subscription and waits for them.
func (c *streamConn) serve(ctx context.Context, conn net.Conn, br *bufio.Reader) {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		conn.Close() // unblocks a subscription writing to a client that reads no more
		c.wg.Wait()
	}()
	stop := context.AfterFunc(ctx, func() { conn.Close() }) // unblocks the read below
	defer stop()
	rd := api.NewStreamReader(br, int(c.s.opts.MaxBodyBytes)+api.StreamFrameOverhead)
	// A frame's payload is a request body: charged to the bodies' budget
	// as it arrives, and due within the read timeout once its header has
	// come. Without either, 100 streams that each sent 15 MiB of a 16 MiB
	// frame and stopped held 1.56 GB for as long as they stayed open.
	rd.ChargeTo(c.s.bodies)
	for {
		// Every frame is done with before the next is read (apply parses or
		// writes what it needs), so a frame is read into a buffer of the
		// pool the HTTP batch bodies use, taken once the frame starts to
		// arrive: an idle stream holds none. (A failed Peek fails the read.)
		if _, err := br.Peek(api.StreamHeaderLen); err == nil {
			conn.SetReadDeadline(time.Now().Add(c.s.opts.StreamReadTimeout))
		}
		kept := batchBodies.Get().(*[]byte)
		f, buf, err := rd.ReadShared(*kept)
		conn.SetReadDeadline(time.Time{}) // between frames a stream may idle
		switch {
		case errors.Is(err, budget.ErrSpent):
			c.fail(0, budgetFull(c.s.bodies))
			return
		case errors.Is(err, api.ErrStreamFrameTooLarge):
			c.fail(0, api.ErrBodyTooLarge.Withf("%v", err).WithDetail("max_body_bytes", c.s.opts.MaxBodyBytes))
			return
		case errors.Is(err, api.ErrStreamFrame):
			c.fail(0, api.ErrBadRequest.Withf("%v", err))
			return
		case err != nil: // closed, or cut short: nobody to answer
			return
		}
		ok := c.apply(ctx, f)
		c.s.bodies.Give(int64(len(f.Payload)))
		if cap(buf) <= maxKeptBatchBody {
			*kept = buf[:0]
		}
		batchBodies.Put(kept)
		if !ok {
			return
		}
	}
}

// apply applies one frame; false ends the stream.
func (c *streamConn) apply(ctx context.Context, f api.StreamFrame) bool {
	switch f.Type {
	case api.StreamSubscribe:
		if err := c.subscribe(ctx, f); err != nil {
			c.fail(f.ID, err)
		}
	case api.StreamCredit:
		n, err := api.ParseStreamCredit(f.Payload)
		if err != nil {
			c.fail(0, api.ErrBadRequest.Withf("%v", err))
			return false
		}
		if sub := c.subs[f.ID]; sub != nil {
			sub.grant(int(n))
		} // else ended (its ERROR is on the way): nothing to deliver
	case api.StreamAck, api.StreamNack, api.StreamExtend:
		if err := c.settle(f); err != nil {
			c.w.Write(api.StreamSettled, f.ID, api.AppendStreamError(nil, c.coded(err)))
		}
	case api.StreamPing:
		c.w.Write(api.StreamPong, f.ID)
	case api.StreamProduce:
		// Charged as a request body is (MaxDecodingBytes), though only once
		// read: a stream holds one frame at a time.
		if !c.s.bodies.Take(int64(len(f.Payload))) {
			c.fail(f.ID, budgetFull(c.s.bodies))
			break
		}
		results, err := c.produce(f)
		c.s.bodies.Give(int64(len(f.Payload)))
		if err != nil {
			c.fail(f.ID, err)
			break
		}
		c.answer = api.AppendStreamProduced(c.answer[:0], results)
		c.w.Write(api.StreamProduced, f.ID, c.answer)
	default:
		c.fail(0, api.ErrBadRequest.Withf("a client does not send %v frames", f.Type))
		return false
	}
	return true
}

// produce publishes a PRODUCE frame's batches as POST
// /topics/{topic}/batches does, authorized as that request.
func (c *streamConn) produce(f api.StreamFrame) ([]api.PublishResult, error) {
	p, err := api.ParseStreamProduction(f.Payload)
	if err != nil {
		return nil, api.ErrBadRequest.Withf("%v", err)
	}
	if err := broker.ValidateTopicName(p.Topic); err != nil {
		return nil, err
	}
	if err := allow(c.r, actProduce, kindTopic, p.Topic); err != nil {
		return nil, err
	}
	if int64(len(p.Body)) > c.s.opts.MaxBodyBytes {
		return nil, bodyTooLarge(c.s.opts.MaxBodyBytes)
	}
	return c.s.publishFrames(p.Topic, p.Body)
}

// fail sends err as an ERROR frame for id.
func (c *streamConn) fail(id uint32, err error) {
	c.w.Write(api.StreamError, id, api.AppendStreamError(nil, c.coded(err)))
}

// coded is err as the wire says it; a fault that is not coded is logged.
func (c *streamConn) coded(err error) *api.Error {
	ae, coded := wireError(settleError(err))
	if !coded {
		c.s.log.Error("stream frame failed", "remote", c.r.RemoteAddr, "err", err)
	}
	return c.s.confirmNotFound(c.r.Context(), ae)
}

// subscribe starts a subscription, or updates the one of f's id with the
// member's new generation and bound.
func (c *streamConn) subscribe(ctx context.Context, f api.StreamFrame) error {
	req, err := api.ParseStreamSubscription(f.Payload)
	if err != nil {
		return api.ErrBadRequest.Withf("%v", err)
	}
	if req.MaxBytes < 0 {
		return invalidField("max_bytes", "max_bytes %d is negative", req.MaxBytes)
	}
	credit := 0
	if sub := c.subs[f.ID]; sub != nil {
		if sub.group != req.Group || sub.member() != req.MemberID {
			return invalidField("group", "subscription %d is member %s of group %s; subscribe under a new id", f.ID, sub.member(), sub.group)
		}
		if sub.update(req) {
			return nil
		}
		// Its poll failed (its ERROR was sent): the member heartbeated or
		// joined since, and subscribes again with the credit it granted.
		sub.mu.Lock()
		credit = sub.credit
		sub.mu.Unlock()
	}
	if err := broker.ValidateGroupID(req.Group); err != nil {
		return err
	}
	if err := allow(c.r, actGroup, kindGroup, req.Group); err != nil {
		return err
	}
	if err := c.s.checkCoordinator(req.Group); err != nil {
		return err
	}
	if err := c.s.allowMember(c.r, req.Group, req.MemberID); err != nil {
		return err
	}
	sub := &subscription{id: f.ID, group: req.Group, req: req, credit: credit, changed: make(chan struct{}, 1)}
	c.subs[f.ID] = sub
	c.wg.Go(func() { c.deliver(ctx, sub) })
	return nil
}

// settle applies an ACK, NACK or EXTEND frame as POST /ack, /nack or
// /extend applies its body, for the member of the frame's subscription.
func (c *streamConn) settle(f api.StreamFrame) error {
	p, err := api.ParseStreamSettle(f.Payload)
	if err != nil {
		return api.ErrBadRequest.Withf("%v", err)
	}
	sub := c.subs[p.Sub]
	if sub == nil {
		return invalidField("sub", "no subscription %d on this stream", p.Sub)
	}
	sub.mu.Lock()
	req := api.AckRequest{MemberID: sub.req.MemberID, Generation: sub.req.Generation, Ranges: p.Ranges, Reason: p.Reason,
		Release: p.Release, DelayMS: int64(p.DelayMS), VisibilityTimeoutMS: int64(p.VisibilityMS)}
	sub.mu.Unlock()
	op := ack
	switch f.Type {
	case api.StreamNack:
		requeue := !p.Reject
		req.Requeue, op = &requeue, nack
	case api.StreamExtend:
		op = extend
	}
	_, err = op(c.s.b, sub.group, &req, c.host)
	if f.Type != api.StreamExtend {
		sub.poke()
	}
	return err
}

// subscription is one member's pushed poll. Its goroutine (deliver) polls;
// the stream's reader grants credit and updates it.
type subscription struct {
	id      uint32
	group   string        // immutable
	changed chan struct{} // buffered(1): credit granted or subscription updated
	mu      sync.Mutex
	req     api.StreamSubscription // guarded by mu
	credit  int                    // guarded by mu: messages the member can take more
	ended   bool                   // guarded by mu: its poll failed and its goroutine returned
	// kick ends the wait of the poll in progress (guarded by mu; nil
	// between polls): settling frees room under the member's in-flight
	// cap, which does not wake a waiting poll as an append does.
	kick context.CancelFunc
	// polls counts the polls started and fenced names the one a CREDIT of
	// 0 came during (both guarded by mu): what that poll hands out is not
	// written but handed back (see grant). writeMu is held from a poll's
	// check of fenced through its DELIVER's write.
	polls, fenced uint64
	writeMu       sync.Mutex
	// full is how long its poll last waited for room among the answers
	// held (handOut); touched only by its deliver goroutine.
	full time.Duration
}

// poke has a waiting poll look again.
func (sub *subscription) poke() {
	sub.mu.Lock()
	if sub.kick != nil {
		sub.kick()
	}
	sub.mu.Unlock()
}

func (sub *subscription) member() string {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.req.MemberID
}

// grant sets the credit to n. A poll waiting with more is made to look
// again: the member takes back credit when it hands messages back, which
// must not be pushed to it again. A grant of 0 also fences the poll in
// progress, if any: what it hands out is handed back (released, as a
// member's hand-back is: delivered again at once, no retry spent) rather
// than written, and grant returns only once a DELIVER that poll was
// already writing is out. The stream's reader answers the frames after
// it only then, so a PONG after a CREDIT of 0 tells the member that no
// message handed out to it before will still come. A member releasing a
// partition relies on that: a delivery of it written after the release
// would reach it as if handed out under its next ownership of the
// partition, while the release had taken those messages back. Fencing
// rather than waiting for the poll keeps the reader (and the member's
// acks behind it) from waiting on a poll's wait or its coordinator's
// confirmation, seconds on a cluster in trouble.
func (sub *subscription) grant(n int) {
	if n == 0 {
		// A DELIVER being written (its poll checked before this fence)
		// goes out first; a poll that checks after is fenced.
		sub.writeMu.Lock()
		defer sub.writeMu.Unlock()
	}
	sub.mu.Lock()
	lower := n < sub.credit
	sub.credit = n
	if n == 0 {
		sub.fenced = sub.polls
	}
	sub.mu.Unlock()
	if lower {
		sub.poke()
	}
	sub.wake()
}

// update takes the member's new generation and bound; false if the
// subscription has ended.
func (sub *subscription) update(req api.StreamSubscription) bool {
	sub.mu.Lock()
	ended := sub.ended
	sub.req = req
	sub.mu.Unlock()
	sub.wake()
	return !ended
}

func (sub *subscription) wake() {
	select {
	case sub.changed <- struct{}{}:
	default:
	}
}

// dueRecheck is how soon a subscription whose member must heartbeat polls
// again if the member sends no new SUBSCRIBE: until it heartbeats, the
// poll answers at once.
const dueRecheck = 50 * time.Millisecond

// deliver runs sub's poll until ctx ends or the poll fails, which ends the
// subscription with an ERROR frame of the code the HTTP poll would answer.
func (c *streamConn) deliver(ctx context.Context, sub *subscription) {
	for ctx.Err() == nil {
		sub.mu.Lock()
		req, credit := sub.req, sub.credit
		if credit <= 0 {
			sub.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-sub.changed:
			}
			continue
		}
		pctx, kick := context.WithCancel(ctx)
		sub.kick = kick
		sub.polls++
		poll := sub.polls
		sub.mu.Unlock()
		n, ok := c.handOut(ctx, pctx, sub, poll, req, credit)
		kick()
		sub.mu.Lock()
		sub.kick = nil
		sub.mu.Unlock()
		if !ok {
			return
		}
		// As the HTTP poll's answer says it (PollRebalanceHeader): the
		// coordinator's poll answers at once once per change, so this is
		// not sent in a loop.
		due := c.s.b.HeartbeatDue(sub.group, req.MemberID)
		if due {
			c.w.Write(api.StreamAssign, sub.id)
		}
		if due && n == 0 {
			t := time.NewTimer(dueRecheck)
			select {
			case <-ctx.Done():
			case <-sub.changed:
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// handOut runs sub's poll number poll (pctx ends its wait) for up to
// credit messages and writes what it hands out, or hands it back if a
// CREDIT of 0 fenced the poll meanwhile (see grant). It returns how many
// it wrote, and false when the subscription is over: the stream closed or
// failed, or the poll failed (its ERROR sent).
func (c *streamConn) handOut(ctx, pctx context.Context, sub *subscription, poll uint64, req api.StreamSubscription, credit int) (int, bool) {
	params := broker.PollParams{MemberID: req.MemberID, Generation: req.Generation,
		MaxMessages: credit, MaxBytes: int(req.MaxBytes), Wait: c.s.opts.MaxWait}
	parts, err := c.s.b.PollStored(pctx, sub.group, params, c.host)
	if ctx.Err() != nil {
		broker.ReleaseStored(parts)
		return 0, false // the stream closed: what the poll handed out is in flight, as a dropped poll's
	}
	if err != nil {
		sub.mu.Lock()
		sub.ended = true
		sub.mu.Unlock()
		c.fail(sub.id, err)
		return 0, false
	}
	n := storedMessages(parts)
	if n == 0 {
		return 0, true
	}
	// The messages are held until their DELIVER is written, and take
	// from the answers' bound as a poll's do: one stream that read
	// nothing, with 40 subscriptions of 64 MiB, held 3.3 GB. With no
	// room, they are handed back (deliverable again at once, a handoff
	// counted in their delivery count) and the poll is tried again after
	// a wait that doubles while the bound stays full.
	held := int64(storedAnswerSize(parts))
	if !c.s.answers.Take(held) {
		c.s.b.HandBackStored(sub.group, params, c.host, parts)
		broker.ReleaseStored(parts)
		sub.full = min(max(2*sub.full, answersRetry), maxAnswersRetry)
		t := time.NewTimer(sub.full)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		return 0, ctx.Err() == nil
	}
	defer c.s.answers.Give(held)
	sub.full = 0
	if hook := beforeDeliverWrite.Load(); hook != nil {
		(*hook)()
	}
	sub.writeMu.Lock()
	sub.mu.Lock()
	fenced := sub.fenced == poll
	if !fenced {
		sub.credit -= n
	}
	sub.mu.Unlock()
	if fenced {
		// The hand-back may wait on the group's writes: not the reader.
		// This goroutine alone polls for the subscription, so no later
		// delivery of these messages to it can come before the hand-back
		// and be released by it.
		sub.writeMu.Unlock()
		c.s.b.HandBackStored(sub.group, params, c.host, parts)
		broker.ReleaseStored(parts)
		return 0, true
	}
	err = c.w.Write(api.StreamDeliver, sub.id, storedPieces(parts)...)
	sub.writeMu.Unlock()
	// Written (Write returns once the bytes are out) or failed: the read
	// buffers may serve other polls. Never released, every poll of a
	// stream read into a fresh buffer.
	broker.ReleaseStored(parts)
	return n, err == nil // a failed write: serve ends the stream
}

// answersRetry is how long a subscription whose messages found no room
// among the answers held first waits before it polls again; the wait
// doubles, up to maxAnswersRetry, while there is none.
const (
	answersRetry    = 250 * time.Millisecond
	maxAnswersRetry = 8 * time.Second
)

// beforeDeliverWrite, if set, runs between a subscription's hand-out and
// the write of its DELIVER: tests hold the write there.
var beforeDeliverWrite atomic.Pointer[func()]

// storedMessages counts the messages of a stored poll answer.
func storedMessages(parts []broker.StoredPart) int {
	n := 0
	for _, p := range parts {
		for _, r := range p.Ranges {
			n += int(r.Last - r.First + 1)
		}
	}
	return n
}

// storedPieces is the stored-batches answer of parts
// (api.PollStoredContentType, as writePollStored sends it) in pieces to
// write one after another: the batches' stored bytes are not copied.
func storedPieces(parts []broker.StoredPart) [][]byte {
	var out [][]byte
	var buf []byte
	for i := range parts {
		buf = appendStoredHead(buf, &parts[i])
		for _, b := range parts[i].Batches {
			buf = binary.BigEndian.AppendUint32(buf, uint32(b.Len()))
			buf = append(buf, b.Head...)
			out = append(out, buf)
			buf = nil
			out = append(out, b.Body)
		}
	}
	if len(buf) > 0 {
		out = append(out, buf)
	}
	return out
}
