package client

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// Pipelined requests carry idempotent batches: each partition's batches
// have consecutive sequence numbers in the producer's epoch for that
// partition, and the broker writes a batch only if it is the next one
// (api.BatchesContentType). On one pipe the broker takes them in the order
// written; what must be sent again (a lost answer, an answer the broker
// could not give now, a batch refused because an earlier one was) goes
// again in the order it was first sent, before anything new of its
// partitions, with the sequences it had: a batch the broker wrote already
// is answered with its first offset. A request that fails for good
// (refused, or out of attempts) fails every later request of its
// partitions sent before the failure was known (the broker refuses them as
// a gap); the partitions then start a new epoch, so that nothing sent
// before can be written after.

// partSeq is the sequence state of one partition; guarded by Producer.mu.
type partSeq struct {
	epoch int16
	next  int32 // the first sequence of the next batch
	// outstanding counts requests with sequences here that are not yet
	// answered for good; recovering counts those among them that failed
	// once and wait to be sent again.
	outstanding, recovering int
	cause                   error // why the last epoch ended
	// landed says a batch of this epoch was written. Until then its first
	// batch goes alone: the broker takes any sequence as the start of a
	// producer it has no state for (or of a new epoch), so a later batch
	// that overtook the first (the first cut off with its connection, the
	// later one sent on the next) would be taken as the start, and the
	// first refused for good as out of order. Once one landed, a batch
	// that overtakes another is refused as a gap and goes again after it.
	landed bool
	// on counts its outstanding requests by the node they went to (a
	// leader's base URL, "": any broker): a new request goes only where
	// all of them are, since two connections keep no order between them.
	on map[string]int
}

// onNode adds d to the partition's outstanding requests at node.
func (s *partSeq) onNode(node string, d int) {
	if s.on == nil {
		s.on = make(map[string]int)
	}
	if s.on[node] += d; s.on[node] <= 0 {
		delete(s.on, node)
	}
}

// allOn reports whether every outstanding request of the partition went
// to node.
func (s *partSeq) allOn(node string) bool { return s.on[node] == s.outstanding }

// sequenceLocked gives pb, the batch of a request about to be sent for the
// first time to node, the next sequences of partition k.
func (p *Producer) sequenceLocked(k partKey, pb *partBatch, node string) {
	s := p.seqs[k]
	if s == nil {
		s = &partSeq{}
		p.seqs[k] = s
	}
	pb.epoch, pb.seq = s.epoch, s.next
	s.next = int32((int64(s.next) + int64(pb.b.NumRecords())) % (math.MaxInt32 + 1)) // sequences wrap to 0
	s.outstanding++
	s.onNode(node, 1)
}

// In a cluster a pipelined request goes to the node that leads its
// partitions now (routeLocked, when it is picked), on that node's pipe of
// its group. A leader change shows as NOT_LEADER (nothing written; the
// answer names the new leader, which the producer takes at once) or as a
// leader that cannot be reached (the producer asks the topic's leaders
// again before the request goes again). Either way the request goes again
// with its sequences, in the order first sent, and the new leader answers
// a batch its predecessor wrote with its first offset: every replica
// knows the producers' sequences of what is committed.

// refreshTimeout bounds asking a topic's leaders again before a request
// is sent again.
const refreshTimeout = 5 * time.Second

// refreshAttempt bounds each node's answer to a leaders' refresh: a node
// that leaves it unanswered is left for the next (answerWithin).
const refreshAttempt = 1500 * time.Millisecond

// routeLocked points r at the leader its partition has now ("": any
// broker, e.g. on a single broker, where a request may hold several
// partitions; in a cluster it holds one: see openLocked).
func (p *Producer) routeLocked(r *request) {
	if ts := p.topics[r.topic]; ts != nil && int(r.parts[0]) < len(ts.leaders) {
		r.node = ts.leaders[r.parts[0]]
	}
}

// reroute prepares r, about to be sent again, for a leader change: if an
// answer showed the topic's leaders stale, it asks for them again (run
// waits meanwhile: only after a failure), then routes r. Its partitions'
// later requests wait for it (recovering), so they follow it there.
func (p *Producer) reroute(r *request) {
	p.mu.Lock()
	ts := p.topics[r.topic]
	stale := ts != nil && ts.expired
	p.mu.Unlock()
	if stale {
		ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
		_, _ = p.refresh(ctx, r.topic) // on failure, the leaders known already
		cancel()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	from := r.node
	p.routeLocked(r)
	for _, part := range r.parts {
		s := p.seqs[partKey{r.topic, part}]
		s.onNode(from, -1)
		s.onNode(r.node, 1)
	}
}

// learnLeaderLocked acts on a pipelined request's failure that says its
// leader changed: a NOT_LEADER naming the new leader points the partition
// there; one naming none, or a leader that could not be reached, has the
// topic's leaders asked again before the request goes again.
func (p *Producer) learnLeaderLocked(r *request, err error) {
	ts := p.topics[r.topic]
	if ts == nil {
		return
	}
	nl, isNL := asNotLeader(err)
	ts.cluster = ts.cluster || isNL // only a cluster's nodes answer NOT_LEADER
	switch {
	case isNL && p.takeLeaderLocked(ts, nl):
	case isNL, r.node != "" && errors.Is(err, ErrUnreachable):
		ts.expired = true
	}
}

// takeLeaderLocked points nl's partition at the leader it names, if it
// names one of a partition ts has, and reports whether it did. That node
// is also one to ask what any node answers (nodes.go): it may be the only
// live node the producer knows, when the description it had of the topic
// named no other leader (their elections under way) and its seed dies.
func (p *Producer) takeLeaderLocked(ts *topicState, nl notLeader) bool {
	if nl.addr == "" || nl.partition < 0 || int(nl.partition) >= len(ts.leaders) {
		return false
	}
	ts.leaders[nl.partition], ts.leaderIDs[nl.partition] = p.t.baseURL(nl.addr), nl.leader
	p.t.learnNodes(map[uint64]string{nl.leader: nl.addr})
	return true
}

// writePiped writes r on the pipe of its node and group. Only run calls
// it, in the order requests are picked.
func (p *Producer) writePiped(r *request) {
	if r.retrying {
		p.reroute(r)
		p.mu.Lock()
		p.moveSlotLocked(r) // counted where it goes, not where it failed
		p.mu.Unlock()
	}
	if !r.framed {
		for _, part := range r.parts {
			pb := r.slots[part]
			h := recordbatch.NewHeader(0) // the broker assigns offsets
			h.ProducerID, h.ProducerEpoch, h.BaseSequence = p.pid, pb.epoch, pb.seq
			pb.buf = pb.b.Finish(h)
		}
		r.framed = true
	}
	body, pooled := p.pipedBody(r)
	p.mu.Lock()
	r.writing = true
	p.mu.Unlock()
	p.writeOnPipe(r, body)
	// The answer may have come while the body was still being written (a
	// broker refuses a request before reading all of it): r and the body
	// are let go only now.
	p.mu.Lock()
	r.writing = false
	if pooled {
		p.putBufLocked(body)
	}
	if r.answered {
		p.putRequestLocked(r)
	}
	p.mu.Unlock()
}

// writeOnPipe writes r's body on the pipe of its node and group, opening
// one if there is none that works; r is answered, from the pipe or from
// here.
func (p *Producer) writeOnPipe(r *request, body []byte) {
	key := openKey{node: r.node, group: r.key.group} // a pipe per node and group
	c := p.pipes[key]
	for range 2 { // a pipe may be found closed once: then a new one
		if c != nil && c.isClosed() {
			c.shut()
			delete(p.pipes, key)
			c = nil
			if p.overtakes(r) {
				// shut had the closed pipe's requests answered; one of r's
				// partitions sent before r failed there and waits to go
				// again. Written on a new pipe now, r would reach the
				// broker first: it goes again after that one instead.
				p.answered(r, nil, &connError{err: errBrokerClosed, blameless: true})
				return
			}
		}
		if c == nil {
			base, cur := p.t.anyBroker()
			if r.node != "" {
				base = r.node
			}
			// Bounded: a node that takes the connection but answers
			// nothing (stopped) would hold run, and every node's requests.
			octx, cancel := context.WithTimeout(context.Background(), p.cfg.RequestTimeout)
			nc, err := openPipe(octx, p.dial, base, p.t.apiKey, !p.cfg.NoStream && !p.noStream[base], p.cfg.RequestTimeout, p.answered)
			cancel()
			if err != nil {
				if r.node == "" {
					p.t.next(cur)
				}
				p.answered(r, nil, err)
				return
			}
			if nc.noStream {
				p.noStream[base] = true // an older broker: ask it no more
			}
			c = nc
			p.pipes[key] = c
		}
		if c.write(r, r.topic, r.path, body) {
			return
		}
	}
	p.answered(r, nil, &connError{err: errBrokerClosed})
}

// pipedBody is r's body: its one frame as it is (the usual case: keyless
// records stick to one partition per request), or its frames copied into
// a buffer taken from the producer's.
func (p *Producer) pipedBody(r *request) (body []byte, pooled bool) {
	if len(r.parts) == 1 {
		part := r.parts[0]
		body = r.slots[part].buf
		binary.BigEndian.PutUint32(body, uint32(part))
		binary.BigEndian.PutUint32(body[4:], uint32(len(body)-frameHeaderLen))
		return body, false
	}
	p.mu.Lock()
	body = p.takeBufLocked()
	p.mu.Unlock()
	for _, part := range r.parts {
		body = api.AppendFrame(body, part, r.slots[part].buf[frameHeaderLen:])
	}
	return body, true
}

// answered takes the answer to a pipelined request: resp, or err (nil resp
// then). It is called once per write, by the pipe's reader in the order
// written (or by run for a request it could not write), so a partition's
// callbacks run in publish order.
func (p *Producer) answered(r *request, resp *api.PublishResponse, err error) {
	if err == nil && len(resp.Offsets) != len(r.parts) {
		err = fmt.Errorf("client: broker answered %d results for %d frames", len(resp.Offsets), len(r.parts))
	}
	p.mu.Lock()
	p.freeSlotLocked(r)
	if err != nil {
		if ce := (*connError)(nil); !errors.As(err, &ce) || !ce.blameless {
			// Not counted otherwise: a few breaks in a row would fail
			// every request that happened to be out, although each
			// connection made progress.
			r.attempts++
		}
		p.learnLeaderLocked(r, err)
		if cause := p.overtakenLocked(r); cause != nil {
			err = cause
		} else if p.retriable(r, err) {
			if !r.retrying {
				r.retrying = true
				for _, part := range r.parts {
					p.seqs[partKey{r.topic, part}].recovering++
				}
			}
			r.retryAt = time.Now()
			if r.attempts > maxAttempts || !isCode(err, api.ErrOutOfOrderSequence) && !isCode(err, api.ErrNotLeader) {
				// Refused only for an earlier batch, a gap goes right
				// after it, and a request refused by a node that leads
				// no more goes to the new leader (a few times at once:
				// during an election nodes may name a stale leader);
				// anything else waits.
				r.retryAt = r.retryAt.Add(retryDelay(r.attempts))
			}
			// In the order first sent: a request that failed again goes
			// before the later ones of its partitions waiting already.
			i, _ := slices.BinarySearchFunc(p.retry, r.seq, func(q *request, seq uint64) int { return cmp.Compare(q.seq, seq) })
			p.retry = slices.Insert(p.retry, i, r)
			p.mu.Unlock()
			return
		}
		for _, part := range r.parts {
			if s := p.seqs[partKey{r.topic, part}]; s.epoch == r.slots[part].epoch {
				// Nothing sent before may be written after this: a new
				// epoch, whose sequences start again at 0.
				s.epoch, s.next, s.cause, s.landed = s.epoch+1, 0, err, false
			}
		}
		if ts := p.topics[r.topic]; ts != nil && (isCode(err, api.ErrTopicNotFound) || isCode(err, api.ErrPartitionNotFound) || isCode(err, api.ErrPartitionLost)) {
			// Learned again before the next record: a lost partition
			// is then left out of keyless records' turn.
			ts.expired = true
		}
	}
	for _, part := range r.parts {
		s := p.seqs[partKey{r.topic, part}]
		s.outstanding--
		s.onNode(r.node, -1)
		if r.retrying {
			s.recovering--
		}
		if err == nil && s.epoch == r.slots[part].epoch {
			s.landed = true
		}
	}
	p.mu.Unlock()
	for j, part := range r.parts {
		for i, cb := range r.slots[part].cbs {
			if err != nil {
				cb(Position{}, err)
				continue
			}
			o := resp.Offsets[j]
			cb(Position{Partition: o.Partition, Offset: o.Offset + int64(i)}, nil)
		}
	}
	p.mu.Lock()
	p.buffered -= r.bytes
	delete(p.pending, r.seq)
	if r.writing {
		r.answered = true // writePiped lets it go
	} else {
		p.putRequestLocked(r)
	}
	close(p.progress)
	p.progress = make(chan struct{})
	p.mu.Unlock()
}

// overtakes reports whether a request of r's partitions sent before r
// waits to be sent again, so that r must not go first.
func (p *Producer) overtakes(r *request) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, q := range p.retry {
		if q.seq >= r.seq || q.topic != r.topic {
			continue
		}
		for _, part := range r.parts {
			if q.slot(part) != nil {
				return true
			}
		}
	}
	return false
}

// overtakenLocked is, for a request of which a partition has started a new
// epoch since it was sent (an earlier batch failed for good), the error its
// records fail with: the broker refuses it, or would write it out of order.
func (p *Producer) overtakenLocked(r *request) error {
	for _, part := range r.parts {
		if s := p.seqs[partKey{r.topic, part}]; s.epoch != r.slots[part].epoch {
			return fmt.Errorf("client: not written: an earlier batch of partition %d failed: %w", part, s.cause)
		}
	}
	return nil
}

// retryMax caps the wait before a pipelined request is sent again. A
// leader's failure is the usual cause, and the next leader is elected 2–4
// s later: with the transport's 2 s cap the retries came at 3.15, 5.15 and
// 7.15 s, so a failover took 5–7 s where the election took 2–4 (Kafka
// clients cap theirs at 1 s, retry.backoff.max.ms). A request per
// partition twice a second is nothing to a recovering cluster.
const retryMax = 400 * time.Millisecond

// minRetry is the least time a pipelined request is retried for, what
// maxAttempts tries that fail at once take with retryDelay's waits (50 +
// 100 + 200 + 400 ms): a RetryTimeout shorter than that still tries a
// refusing broker maxAttempts times.
const minRetry = 750 * time.Millisecond

// retryDelay is how long a pipelined request waits before its next try
// after failing attempts times: doubling from backoffMin up to retryMax.
func retryDelay(attempts int) time.Duration {
	return min(backoffMin<<min(max(attempts-1, 0), 6), retryMax)
}

// retriable reports whether a pipelined request that failed with err is
// sent again: after a lost answer (sending again is safe: the broker
// recognises a batch it wrote), an answer that says to try later, or a gap
// left by an earlier batch that is being sent again; until RetryTimeout
// after r opened, or minRetry if that is longer.
//
// The clock starts when r opened, so it counts what r waited behind: a
// request held (open, or ready) behind an earlier one of its partitions
// that was retried is first sent when that one failed for good. Its
// clock started at its first failure, so it had a RetryTimeout of its
// own, and with the broker down Close waited a RetryTimeout for each
// request a partition had queued. And the least a request is retried is
// a time, not a count of tries: five tries of a node that answers
// nothing (a hung broker, a host that drops packets) are five
// RequestTimeouts, and took records and Close far past RetryTimeout.
func (p *Producer) retriable(r *request, err error) bool {
	if time.Since(r.opened) >= max(p.cfg.RetryTimeout, minRetry) {
		return false
	}
	var e *api.Error
	switch {
	case errors.Is(err, ErrUnreachable):
		return true
	case !errors.As(err, &e):
		return false
	case e.Code == api.ErrOutOfOrderSequence.Code:
		return true
	case e.Code == api.ErrNotLeader.Code:
		return true // nothing written: to the leader (learnLeaderLocked)
	case e.Code == api.ErrNotCoordinator.Code:
		return false // a group's answer: nothing a batch can act on
	}
	return e.Retriable
}
