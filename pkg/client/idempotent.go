package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
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
}

// sequenceLocked gives pb, the batch of a request about to be sent for the
// first time, the next sequences of partition k.
func (p *Producer) sequenceLocked(k partKey, pb *partBatch) {
	s := p.seqs[k]
	if s == nil {
		s = &partSeq{}
		p.seqs[k] = s
	}
	pb.epoch, pb.seq = s.epoch, s.next
	s.next = int32((int64(s.next) + int64(pb.b.NumRecords())) % (math.MaxInt32 + 1)) // sequences wrap to 0
	s.outstanding++
}

// writePiped writes r on its group's pipe. Only run calls it, in the order
// requests are picked.
func (p *Producer) writePiped(r *request) {
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

// writeOnPipe writes r's body on the pipe of its group, opening one if
// there is none that works; r is answered, from the pipe or from here.
func (p *Producer) writeOnPipe(r *request, body []byte) {
	c := &p.pipes[r.key.group]
	for range 2 { // a pipe may be found closed once: then a new one
		if *c != nil && (*c).isClosed() {
			(*c).shut()
			*c = nil
		}
		if *c == nil {
			cur := p.t.current.Load()
			nc, err := openPipe(context.Background(), p.dial, p.t.brokers[cur%uint32(len(p.t.brokers))], p.t.apiKey, p.answered)
			if err != nil {
				p.t.current.CompareAndSwap(cur, (cur+1)%uint32(len(p.t.brokers)))
				p.answered(r, nil, err)
				return
			}
			*c = nc
		}
		if (*c).write(r, r.path, body) {
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
	p.inFlight--
	p.signal()
	if err != nil {
		if ce := (*connError)(nil); !errors.As(err, &ce) || !ce.blameless {
			// Not counted otherwise: a few breaks in a row would fail
			// every request that happened to be out, although each
			// connection made progress.
			r.attempts++
		}
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
			if !isCode(err, api.ErrOutOfOrderSequence) {
				// Refused only for an earlier batch, a gap goes right
				// after it; anything else waits.
				r.retryAt = r.retryAt.Add(min(backoffMin<<max(r.attempts-1, 0), backoffMax))
			}
			p.retry = append(p.retry, r)
			p.mu.Unlock()
			return
		}
		for _, part := range r.parts {
			if s := p.seqs[partKey{r.topic, part}]; s.epoch == r.slots[part].epoch {
				// Nothing sent before may be written after this: a new
				// epoch, whose sequences start again at 0.
				s.epoch, s.next, s.cause = s.epoch+1, 0, err
			}
		}
		if ts := p.topics[r.topic]; ts != nil && (isCode(err, api.ErrTopicNotFound) || isCode(err, api.ErrPartitionNotFound)) {
			ts.expired = true
		}
	}
	for _, part := range r.parts {
		s := p.seqs[partKey{r.topic, part}]
		s.outstanding--
		if r.retrying {
			s.recovering--
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

// retriable reports whether a pipelined request that failed with err is
// sent again: after a lost answer (sending again is safe: the broker
// recognises a batch it wrote), an answer that says to try later, or a gap
// left by an earlier batch that is being sent again; up to maxAttempts.
func (p *Producer) retriable(r *request, err error) bool {
	if r.attempts >= maxAttempts {
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
	case e.Code == api.ErrNotLeader.Code || e.Code == api.ErrNotCoordinator.Code:
		return false // no leaders here: a cluster's answers, not to loop on
	}
	return e.Retriable
}
