package httpapi

import (
	"cmp"
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"strings"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

func (s *Server) poll(w http.ResponseWriter, r *http.Request) error {
	var req api.PollRequest
	id, err := s.decodeGroupRequest(w, r, &req)
	if err != nil {
		return err
	}
	if err := s.allowMember(r, id, req.MemberID); err != nil {
		return err
	}
	p, err := pollParams(req, s.opts.MaxWait)
	if err != nil {
		return err
	}
	peer, _ := r.Context().Value(peerKey{}).(peerLimits)
	maxAnswer := peer.maxAnswer
	if maxAnswer > 0 {
		// Passed on by another node: the answer goes back through the
		// cluster link, which carries maxAnswer bytes at most.
		p.MaxBytes = min(cmp.Or(p.MaxBytes, broker.DefaultPollBytes), maxAnswer/4)
	}
	if peer.maxWait > 0 {
		p.Wait = min(p.Wait, peer.maxWait) // as the node the client asked caps it
	}
	refused, err := s.ackOnPoll(id, &req, peerHost(r))
	if err != nil {
		return err
	}
	req.Acks = nil // applied: not held through the wait (up to --max-batch-messages of them)
	if acceptsPollStored(r) {
		parts, err := s.b.PollStored(r.Context(), id, p, peerHost(r))
		if err != nil {
			return err
		}
		if len(parts) > 0 && clientGone(r) {
			s.b.HandBackStored(id, p, peerHost(r), parts)
			broker.ReleaseStored(parts)
			return nil
		}
		size := storedAnswerSize(parts)
		if maxAnswer > 0 && size > maxAnswer {
			// A stored batch is sent whole, and may hold more than the
			// poll's byte budget: hand the poll back rather than leave
			// its messages in flight for an answer that cannot go.
			s.b.HandBackStored(id, p, peerHost(r), parts)
			broker.ReleaseStored(parts)
			return s.answerTooLarge(size, maxAnswer)
		}
		held := int64(size)
		if !s.answers.Take(held) {
			s.b.HandBackStored(id, p, peerHost(r), parts)
			broker.ReleaseStored(parts)
			return s.answersFull()
		}
		defer s.answers.Give(held)
		setPollHeaders(w, s.b.HeartbeatDue(id, req.MemberID), refused)
		writePollStored(w, parts)
		broker.ReleaseStored(parts) // written: the read buffers may serve other polls
		return nil
	}
	got, err := s.b.Poll(r.Context(), id, p, peerHost(r))
	if err != nil {
		return err
	}
	if maxAnswer > 0 {
		// The JSON sizes bound the binary answer's too, near enough: a
		// record's bytes are in it as they are, never escaped, and its
		// fields take about what their JSON takes.
		if got, err = s.fitPoll(id, p, peerHost(r), got, maxAnswer); err != nil {
			return err
		}
	}
	if len(got) > 0 && clientGone(r) {
		s.b.HandBack(id, p, peerHost(r), got)
		return nil
	}
	// The messages are held until written, as a fetch's answer is, and
	// take from the same bound: 40 groups' polls of 64 MiB whose clients
	// read nothing held 3.4 GB of read buffers. One past it hands its
	// messages back, as a poll whose client left does.
	held := deliveredBytes(got)
	if !s.answers.Take(held) {
		s.b.HandBack(id, p, peerHost(r), got)
		return s.answersFull()
	}
	defer s.answers.Give(held)
	rebalance := s.b.HeartbeatDue(id, req.MemberID)
	setPollHeaders(w, rebalance, refused)
	if acceptsPollBatches(r) {
		writePollBatches(w, got)
		return nil
	}
	writePoll(w, got, rebalance, refused)
	return nil
}

// fitPoll keeps of got, the messages a poll took, those whose JSON
// answer (writePoll) fits in maxAnswer bytes, and hands the others back:
// a poll's byte budget counts the messages' bytes, which JSON may take up
// to six times (control characters escaped). One message alone too large
// is handed back and refused: its poll belongs on the coordinator.
func (s *Server) fitPoll(id string, p broker.PollParams, host string, got []broker.Delivered, maxAnswer int) ([]broker.Delivered, error) {
	size := 128 // {"messages":[...],"rebalance":true,"ack_refused":N}
	var scratch []byte
	for i := range got {
		d := &got[i]
		scratch = appendMessage(scratch[:0], d.Topic, d.Partition, &d.Record, d.DeliveryCount)
		if size += len(scratch) + 1; size <= maxAnswer {
			continue
		}
		s.b.HandBack(id, p, host, got[i:])
		if i == 0 {
			return nil, s.answerTooLarge(size, maxAnswer)
		}
		return got[:i], nil
	}
	return got, nil
}

// answerTooLarge refuses a poll passed on whose answer, size bytes,
// would not fit in the maxAnswer a coordinator passes back: what it took
// was handed back, for a poll on the coordinator itself.
func (s *Server) answerTooLarge(size, maxAnswer int) error {
	return api.ErrMessageTooLarge.Withf("the poll's answer takes %d bytes, more than the %d a group's coordinator passes on to another node; poll on the coordinator, node %d (its messages were handed back)", size, maxAnswer, s.opts.Cluster.ID()).
		WithDetail("coordinator", s.opts.Cluster.ID())
}

// clientGone reports whether the client of r closed its connection before
// the answer to its poll: nobody would get the messages, which stayed in
// flight, kept from every member, for a visibility timeout. A long poll
// woken by an append runs ahead of the goroutine that reads the closed
// connection's EOF and ends r's context, runnable already when the close
// came first (a client's poll cancelled right before a publish: 11 of 16
// took its message): clientGone yields once to let it run.
func clientGone(r *http.Request) bool {
	runtime.Gosched()
	return r.Context().Err() != nil
}

// setPollHeaders sets the headers every poll answer carries: a heartbeat
// would change the member's assignment, and acks on the poll it refused.
func setPollHeaders(w http.ResponseWriter, rebalance bool, ackRefused int) {
	if rebalance {
		w.Header().Set(api.PollRebalanceHeader, "true")
	}
	if ackRefused > 0 {
		w.Header().Set(api.PollAckRefusedHeader, strconv.Itoa(ackRefused))
	}
}

// ackOnPoll applies the acknowledgements a poll carries (api.PollRequest.Acks)
// and says how many acks, refused one by one, were lost (api.AckLost: not
// those of messages settled already). An error that refuses them as a
// whole, or names a partition that does not exist, is returned (the acks
// of the others applied, as details.result says), and the poll is not made.
func (s *Server) ackOnPoll(id string, req *api.PollRequest, host string) (int, error) {
	if len(req.Acks) == 0 {
		return 0, nil
	}
	p, err := settleOf(&api.AckRequest{MemberID: req.MemberID, Generation: req.Generation, Ranges: req.Acks})
	var ae *api.Error
	if err != nil {
		if errors.As(err, &ae) {
			err = ae.WithDetail("field", "acks") // the body's field, not the ack's ranges
		}
		return 0, err
	}
	res, err := s.b.Ack(id, p, host)
	if err != nil && (!errors.As(err, &ae) || ae.Details["durable"] != nil || len(res.Failed) == 0) {
		return 0, settleError(err)
	}
	for _, f := range res.Failed {
		// A partition that does not exist is a mistake in the request,
		// neither an ack lost nor one settled already: it fails the poll.
		if f.Err.Is(api.ErrTopicNotFound) || f.Err.Is(api.ErrPartitionNotFound) {
			return 0, f.Err.WithDetail("field", "acks").WithDetail("result", ackResponse(res))
		}
	}
	return lostAcks(res), nil
}

// acceptsPollBatches reports whether the poll asked for the binary answer.
func acceptsPollBatches(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, api.PollBatchesContentType) {
			return true
		}
	}
	return false
}

// pollChunk is how much of a poll answer is encoded before it is written:
// a poll of 10,000 messages is never one buffer of megabytes.
const pollChunk = 64 << 10

// deliveredBytes is what got holds of its records' keys, values and
// headers.
func deliveredBytes(got []broker.Delivered) int64 {
	n := 0
	for i := range got {
		r := &got[i].Record
		n += len(r.Key) + len(r.Value)
		for _, h := range r.Headers {
			n += len(h.Key) + len(h.Value)
		}
	}
	return int64(n)
}

// answerSize is the buffer to encode got in: room for all of it (with
// generous framing), or for one chunk and a message if that is less.
func answerSize(got []broker.Delivered) int {
	n := 64
	for i := range got {
		r := &got[i].Record
		n += 160 + len(r.Key)*2 + len(r.Value)*2
		for _, h := range r.Headers {
			n += 8 + len(h.Key)*2 + len(h.Value)*2
		}
		if n > pollChunk {
			return pollChunk + 4<<10
		}
	}
	return n
}

// writePoll answers an api.PollResponse of got and rebalance, the same
// bytes writeJSON would send, encoded message by message (appendMessage) in
// chunks.
func writePoll(w http.ResponseWriter, got []broker.Delivered, rebalance bool, ackRefused int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	buf := make([]byte, 0, answerSize(got))
	buf = append(buf, `{"messages":[`...)
	for i := range got {
		if i > 0 {
			buf = append(buf, ',')
		}
		d := &got[i]
		buf = appendMessage(buf, d.Topic, d.Partition, &d.Record, d.DeliveryCount)
		if len(buf) >= pollChunk {
			w.Write(buf) // a failed write is the client gone; nothing to answer
			buf = buf[:0]
		}
	}
	buf = append(buf, ']')
	if rebalance {
		buf = append(buf, `,"rebalance":true`...)
	}
	if ackRefused > 0 {
		buf = append(buf, `,"ack_refused":`...)
		buf = strconv.AppendInt(buf, int64(ackRefused), 10)
	}
	w.Write(append(buf, "}\n"...))
}

// settle serves /ack, /nack and /extend (route): op maps the body and
// calls the broker method. A partial failure is the first failure's error,
// with the per-message result in its details; the successes are applied
// either way.
func (s *Server) settle(route string, op func(b *broker.Broker, id string, req *api.AckRequest, host string) (broker.SettleResult, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req api.AckRequest
		id, err := s.decodeGroupRequest(w, r, &req)
		if err != nil {
			return err
		}
		if err := foreignSettleField(route, &req); err != nil {
			return err
		}
		if err := s.allowMember(r, id, req.MemberID); err != nil {
			return err
		}
		res, err := op(s.b, id, &req, peerHost(r))
		if err != nil {
			return settleError(err)
		}
		writeJSON(w, http.StatusOK, ackResponse(res))
		return nil
	}
}

// foreignSettleField refuses, as an unknown field is refused, a field of
// api.AckRequest that only another of /ack, /nack and /extend reads: sent
// to route it would be dropped unread, and the messages settled otherwise
// than asked (an /ack with "requeue":false acknowledged them; an /extend
// with "delay_ms" kept its default timeout).
func foreignSettleField(route string, req *api.AckRequest) error {
	for _, f := range []struct {
		name, route string
		set         bool
	}{
		{"requeue", "nack", req.Requeue != nil},
		{"delay_ms", "nack", req.DelayMS != 0},
		{"reason", "nack", req.Reason != ""},
		{"release", "nack", req.Release},
		{"visibility_timeout_ms", "extend", req.VisibilityTimeoutMS != 0},
	} {
		if f.set && f.route != route {
			return api.ErrBadRequest.Withf("field %q is /%s's; /%s does not take it", f.name, f.route, route).
				WithDetail("field", f.name)
		}
	}
	return nil
}

func ack(b *broker.Broker, id string, req *api.AckRequest, host string) (broker.SettleResult, error) {
	p, err := settleOf(req)
	if err != nil {
		return broker.SettleResult{}, err
	}
	return b.Ack(id, p, host)
}

func nack(b *broker.Broker, id string, req *api.AckRequest, host string) (broker.SettleResult, error) {
	p, err := nackParams(req)
	if err != nil {
		return broker.SettleResult{}, err
	}
	return b.Nack(id, p, host)
}

func extend(b *broker.Broker, id string, req *api.AckRequest, host string) (broker.SettleResult, error) {
	p, err := extendParams(req)
	if err != nil {
		return broker.SettleResult{}, err
	}
	return b.Extend(id, p, host)
}

func (s *Server) replayDLQ(w http.ResponseWriter, r *http.Request) error {
	name, err := topicParam(r)
	if err != nil {
		return err
	}
	body, err := readBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		return err
	}
	var req api.DLQReplayRequest
	if len(body) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			return err
		}
	}
	p, err := replayParams(req)
	if err != nil {
		return err
	}
	res, err := s.b.ReplayDLQ(name, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, replayResponse(res))
	return nil
}

func (s *Server) purgeDLQ(w http.ResponseWriter, r *http.Request) error {
	name, err := topicParam(r)
	if err != nil {
		return err
	}
	if err := s.b.PurgeDLQ(name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// groupRoutes is the consumer-group part of the route table.
func (s *Server) groupRoutes() []route {
	return []route{
		{"POST /groups/{group}/join", s.joinGroup},
		{"POST /groups/{group}/heartbeat", s.heartbeat},
		{"POST /groups/{group}/leave", s.leaveGroup},
		{"POST /groups/{group}/poll", s.poll},
		{"POST /groups/{group}/ack", s.settle("ack", ack)},
		{"POST /groups/{group}/nack", s.settle("nack", nack)},
		{"POST /groups/{group}/extend", s.settle("extend", extend)},
		{"POST /groups/{group}/offsets", s.commitOffsets},
		{"GET /groups/{group}/offsets", s.groupOffsets},
		{"POST /groups/{group}/offsets/reset", s.resetOffsets},
		{"DELETE /groups/{group}", s.deleteGroup},
		{"GET /groups", s.listGroups},
		{"GET /groups/{group}", s.describeGroup},
		{"POST /topics/{topic}/dlq/replay", s.replayDLQ},
		{"DELETE /topics/{topic}/dlq", s.purgeDLQ},
	}
}
