package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// run is the producer's dispatcher: it starts the send of each sealed
// request as soon as its partitions allow and fewer than MaxInFlight are
// in flight, and seals open requests whose linger has passed. A pipelined
// request is written here, so requests reach the pipe in the order they
// are picked; the others are sent by goroutines of their own. It returns
// once the producer is closed, nothing is left to send, and every send it
// started has been answered.
func (p *Producer) run() {
	defer close(p.done)
	var sends sync.WaitGroup
	defer func() {
		sends.Wait()
		for _, c := range p.pipes {
			if c != nil {
				c.shut()
			}
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r, ok := p.next(timer)
		if !ok {
			return
		}
		if r.piped {
			p.writePiped(r)
			continue
		}
		sends.Add(1)
		go func() {
			defer sends.Done()
			p.send(r)
		}()
	}
}

// next waits for a request that may be sent now and marks it in flight.
// It reports false when the producer is closed and drained.
func (p *Producer) next(timer *time.Timer) (*request, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		now := time.Now()
		if r := p.pickLocked(now); r != nil {
			return r, true
		}
		var due time.Time
		// With nothing in flight or waiting, lingering only adds latency:
		// an open request leaves at once, and the records that come while
		// it is out gather into the next one.
		idle := p.inFlight == 0 && len(p.ready) == 0 && len(p.retry) == 0
		for _, ts := range p.topics {
			for _, r := range ts.open {
				if !idle && p.waitsLocked(r) {
					// Sealed now, it could only queue behind its partitions'
					// earlier requests; open, it keeps gathering (up to
					// BatchBytes) until they are answered, which wakes run.
					continue
				}
				d := r.opened.Add(p.cfg.Linger)
				if idle || !d.After(now) {
					p.sealOneLocked(ts, r)
					continue
				}
				if due.IsZero() || d.Before(due) {
					due = d
				}
			}
		}
		if r := p.pickLocked(now); r != nil {
			return r, true
		}
		if p.closed && len(p.ready) == 0 && len(p.retry) == 0 && p.inFlight == 0 {
			return nil, false
		}
		if _, d := p.retryLocked(now); !d.IsZero() {
			if due.IsZero() || d.Before(due) {
				due = d
			}
		}
		wait := time.Hour
		if !due.IsZero() {
			wait = max(due.Sub(now), 0)
		}
		timer.Reset(wait)
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		p.mu.Lock()
	}
}

// waitsLocked reports whether a partition of the open request r cannot
// take another request now (see mayGoLocked) or has one in the ready
// queue. Sealing r by its linger then would only add a request to the
// queue: a queue of small requests (one per linger) drains slower than
// records come when the round trip is longer than the linger, and after a
// leader's failover the backlog never drained.
func (p *Producer) waitsLocked(r *request) bool {
	if !p.mayGoLocked(r, nil) {
		return true
	}
	for _, part := range r.parts {
		for _, q := range p.ready {
			if q.topic == r.topic && q.slot(part) != nil {
				return true
			}
		}
	}
	return false
}

// mayGoLocked reports whether r may be sent as far as its partitions go:
// none is in an earlier ready request (earlier), and each has room. A
// partition has room for a pipelined request while fewer than
// api.MaxInFlightPerPartition of its requests are unanswered, none is
// waiting to be sent again, and a batch of its epoch was written or none
// is unanswered; for any other request, while none of its requests is
// unanswered.
func (p *Producer) mayGoLocked(r *request, earlier map[partKey]bool) bool {
	for _, part := range r.parts {
		k := partKey{r.topic, part}
		if earlier[k] || p.busy[k] {
			return false
		}
		s := p.seqs[k]
		if s == nil {
			continue
		}
		if !r.piped && s.outstanding > 0 || s.outstanding >= api.MaxInFlightPerPartition || s.recovering > 0 {
			return false
		}
		if r.piped && !s.allOn(r.node) {
			return false // its leader changed: after the earlier ones (see partSeq.on)
		}
		if r.piped && !s.landed && s.outstanding > 0 {
			return false // the epoch's first batch goes alone (see partSeq.landed)
		}
	}
	return true
}

// retryLocked finds, in p.retry (in the order sent), the first request
// to send again whose time has come and whose partitions have no earlier
// request waiting there: i is its index, -1 if none. With none, due is
// the earliest time at which one may go (zero if p.retry is empty). An
// earlier request of a partition holds only that partition's later ones:
// a partition whose leader is down, failing again and again, must not
// hold the others' retries. A request whose node has no slot free waits
// (an answer frees one and wakes run).
func (p *Producer) retryLocked(now time.Time) (i int, due time.Time) {
	var earlier map[partKey]bool
	for i, r := range p.retry {
		free := p.roomLocked(r.node)
		for _, part := range r.parts {
			free = free && !earlier[partKey{r.topic, part}]
		}
		if free {
			if !r.retryAt.After(now) {
				return i, r.retryAt
			}
			if due.IsZero() || r.retryAt.Before(due) {
				due = r.retryAt
			}
		}
		if earlier == nil {
			earlier = make(map[partKey]bool)
		}
		for _, part := range r.parts {
			earlier[partKey{r.topic, part}] = true
		}
	}
	return -1, due
}

// pickLocked takes a request to send again whose time has come
// (retryLocked), or else the first ready request that mayGoLocked, whose
// node has fewer than MaxInFlight in flight, and marks it in flight: a
// pipelined one gets its sequence numbers, another marks its partitions
// busy.
func (p *Producer) pickLocked(now time.Time) *request {
	if i, _ := p.retryLocked(now); i >= 0 {
		r := p.retry[i]
		p.retry = slices.Delete(p.retry, i, i+1)
		p.takeSlotLocked(r)
		return r
	}
	var earlier map[partKey]bool
	for i, r := range p.ready {
		if r.piped {
			p.routeLocked(r)
		}
		if p.roomLocked(r.node) && p.mayGoLocked(r, earlier) {
			p.ready = append(p.ready[:i], p.ready[i+1:]...)
			for _, part := range r.parts {
				k := partKey{r.topic, part}
				if r.piped {
					p.sequenceLocked(k, r.slots[part], r.node)
				} else {
					p.busy[k] = true
				}
			}
			p.takeSlotLocked(r)
			return r
		}
		if earlier == nil {
			earlier = make(map[partKey]bool)
		}
		for _, part := range r.parts {
			earlier[partKey{r.topic, part}] = true
		}
	}
	return nil
}

// roomLocked reports whether node has fewer than MaxInFlight requests in
// flight.
func (p *Producer) roomLocked(node string) bool { return p.inFlightOn[node] < p.cfg.MaxInFlight }

// takeSlotLocked counts r in flight, on its node.
func (p *Producer) takeSlotLocked(r *request) {
	r.slotOn = r.node
	p.countOnLocked(r.node, 1)
	p.inFlight++
}

// moveSlotLocked moves r's in-flight slot to its node, rerouted since
// its slot was taken (a retry going to a new leader). The new node may so
// have a retry or two beyond MaxInFlight for a moment.
func (p *Producer) moveSlotLocked(r *request) {
	if r.slotOn != r.node {
		p.countOnLocked(r.slotOn, -1)
		p.countOnLocked(r.node, 1)
		r.slotOn = r.node
	}
}

// freeSlotLocked counts r, answered, out of flight and wakes run.
func (p *Producer) freeSlotLocked(r *request) {
	p.countOnLocked(r.slotOn, -1)
	p.inFlight--
	p.signal()
}

// countOnLocked adds d to node's requests in flight.
func (p *Producer) countOnLocked(node string, d int) {
	if p.inFlightOn == nil {
		p.inFlightOn = make(map[string]int)
	}
	if p.inFlightOn[node] += d; p.inFlightOn[node] == 0 {
		delete(p.inFlightOn, node)
	}
}

// send delivers r, a request that is not pipelined, and reports each record's outcome to its callback, in
// publish order per partition. r's partitions stay busy until it returns,
// so no later batch of them overtakes a batch sent again to a new leader.
func (p *Producer) send(r *request) {
	frames := make(map[int32][]byte, len(r.parts))
	for _, part := range r.parts {
		pb := r.slots[part]
		pb.buf = pb.b.Finish(recordbatch.NewHeader(0)) // the broker assigns offsets
		frames[part] = pb.buf
	}
	out := make(map[int32]outcome, len(r.parts))
	p.deliver(r.topic, r.node, r.parts, frames, out, 0)
	stale := false
	for _, part := range r.parts {
		o := out[part]
		stale = stale || isCode(o.err, api.ErrTopicNotFound) || isCode(o.err, api.ErrPartitionNotFound) || errors.Is(o.err, ErrUnreachable)
		for i, cb := range r.slots[part].cbs {
			if o.err != nil {
				cb(Position{}, o.err)
				continue
			}
			cb(Position{Partition: o.partition, Offset: o.offset + int64(i)}, nil)
		}
	}
	p.mu.Lock()
	if ts := p.topics[r.topic]; stale && ts != nil {
		ts.expired = true // ask the broker again: the topic or its leaders changed
	}
	for _, part := range r.parts {
		delete(p.busy, partKey{r.topic, part})
	}
	p.freeSlotLocked(r) // a request waiting for these partitions may go now
	p.buffered -= r.bytes
	delete(p.pending, r.seq)
	p.putRequestLocked(r)
	close(p.progress)
	p.progress = make(chan struct{})
	p.mu.Unlock()
}

// outcome is where one partition's batch landed (its first record's
// offset), or why it did not.
type outcome struct {
	partition int32
	offset    int64
	err       error
}

// leaderParts are the partitions of a request that one node leads.
type leaderParts struct {
	node  string // base URL; "": any broker
	parts []int32
}

// deliver posts the batches of parts, one request per leader as the
// producer knows them now (fallback for a partition whose leader it does
// not know), and records each partition's outcome in out. A node refuses a
// whole request that holds a partition it does not lead, writing nothing,
// so a NOT_LEADER answer is safe to act on: the producer learns the
// leaders again and delivers that request's partitions anew, up to
// maxLeaderHops times.
func (p *Producer) deliver(topic, fallback string, parts []int32, frames map[int32][]byte, out map[int32]outcome, hops int) {
	for _, g := range p.route(topic, fallback, parts) {
		err := p.post(topic, g, frames, out)
		if nl, ok := asNotLeader(err); ok && hops < maxLeaderHops {
			p.learn(topic, nl)
			p.deliver(topic, "", g.parts, frames, out, hops+1)
		}
	}
}

// route groups parts by their leaders, in order of first appearance.
func (p *Producer) route(topic, fallback string, parts []int32) []leaderParts {
	p.mu.Lock()
	defer p.mu.Unlock()
	var leaders []string
	if ts := p.topics[topic]; ts != nil {
		leaders = ts.leaders
	}
	var groups []leaderParts
next:
	for _, part := range parts {
		node := fallback
		if int(part) < len(leaders) && leaders[part] != "" {
			node = leaders[part]
		}
		for i := range groups {
			if groups[i].node == node {
				groups[i].parts = append(groups[i].parts, part)
				continue next
			}
		}
		groups = append(groups, leaderParts{node: node, parts: []int32{part}})
	}
	return groups
}

// post sends g's batches to g's node as one request and records their
// outcomes; it returns the request's error. frames holds each partition's
// frame: frameHeaderLen bytes of room, then the batch. A request of one
// partition (the usual case: keyless records stick to one partition per
// request) is sent from its frame as it is, without copying it.
func (p *Producer) post(topic string, g leaderParts, frames map[int32][]byte, out map[int32]outcome) error {
	var body []byte
	if len(g.parts) == 1 {
		body = frames[g.parts[0]]
		binary.BigEndian.PutUint32(body, uint32(g.parts[0]))
		binary.BigEndian.PutUint32(body[4:], uint32(len(body)-frameHeaderLen))
	} else {
		p.mu.Lock()
		body = p.takeBufLocked()
		p.mu.Unlock()
		for _, part := range g.parts {
			body = api.AppendFrame(body, part, frames[part][frameHeaderLen:])
		}
		defer func() {
			p.mu.Lock()
			p.putBufLocked(body)
			p.mu.Unlock()
		}()
	}
	var resp api.PublishResponse
	// A request already accepted must be answered even when the producer is
	// closing, so it is not bound to a caller's context. Not idempotent,
	// each attempt is bounded as Client.Publish's (publishWithin), or by
	// RequestTimeout if longer: a node that took it and answered nothing
	// held its records, Flush, Close and Publish of context.Background for
	// as long as it stayed so. Cut at a partition's leader, it fails (the
	// error says it may have been stored); cut at any broker, it goes to
	// the next (at least once).
	within := max(p.t.publishWithin(), p.cfg.RequestTimeout)
	err := p.t.doAt(answerWithin(context.Background(), within), g.node, http.MethodPost, "/topics/"+esc(topic)+"/batches", api.BatchesContentType, body, &resp)
	if err == nil && len(resp.Offsets) != len(g.parts) {
		err = fmt.Errorf("client: broker answered %d results for %d frames", len(resp.Offsets), len(g.parts))
	}
	for j, part := range g.parts {
		if err != nil {
			out[part] = outcome{err: err}
			continue
		}
		out[part] = outcome{partition: resp.Offsets[j].Partition, offset: resp.Offsets[j].Offset}
	}
	return err
}

// learn acts on a NOT_LEADER answer: it asks for the topic's leaders again
// and takes the leader the answer named for its partition (fresher than
// any metadata, and known even when the cluster's status cannot be read).
func (p *Producer) learn(topic string, nl notLeader) {
	_, _ = p.refresh(context.Background(), topic) // on failure the answer's leader still helps
	p.mu.Lock()
	defer p.mu.Unlock()
	if ts := p.topics[topic]; ts != nil {
		p.takeLeaderLocked(ts, nl)
	}
}
