package client

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// run is the producer's one sender: it sends sealed requests in order, and
// seals open requests whose linger has passed. It returns once the producer
// is closed and nothing is left to send.
func (p *Producer) run() {
	defer close(p.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r, ok := p.next(timer)
		if !ok {
			return
		}
		p.send(r)
	}
}

// next waits for a request to send. It reports false when the producer is
// closed and drained.
func (p *Producer) next(timer *time.Timer) (*request, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if len(p.ready) > 0 {
			r := p.ready[0]
			p.ready[0] = nil
			p.ready = p.ready[1:]
			return r, true
		}
		var due time.Time
		now := time.Now()
		for _, ts := range p.topics {
			if ts.open == nil {
				continue
			}
			d := ts.open.opened.Add(p.cfg.Linger)
			if !d.After(now) {
				p.sealLocked(ts)
				continue
			}
			if due.IsZero() || d.Before(due) {
				due = d
			}
		}
		if len(p.ready) > 0 {
			continue
		}
		if p.closed {
			return nil, false
		}
		wait := time.Hour
		if !due.IsZero() {
			wait = due.Sub(now)
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

// send posts r and reports the outcome to its callbacks.
func (p *Producer) send(r *request) {
	p.mu.Lock()
	body := p.takeBufLocked()
	p.mu.Unlock()
	for _, part := range r.parts {
		body = api.AppendFrame(body, part, r.batches[part].seal())
	}
	var resp api.PublishResponse
	// A request already accepted must be answered even when the producer is
	// closing, so it is not bound to a caller's context.
	err := p.t.doRaw(context.Background(), http.MethodPost, "/topics/"+esc(r.topic)+"/batches", api.BatchesContentType, body, &resp)
	if err == nil && len(resp.Offsets) != len(r.parts) {
		err = fmt.Errorf("client: broker answered %d results for %d frames", len(resp.Offsets), len(r.parts))
	}
	for j, part := range r.parts {
		for i, cb := range r.cbs[part] {
			if err != nil {
				cb(Position{}, err)
				continue
			}
			cb(Position{Partition: resp.Offsets[j].Partition, Offset: resp.Offsets[j].Offset + int64(i)}, nil)
		}
	}
	p.mu.Lock()
	if err != nil && (isCode(err, api.ErrTopicNotFound) || isCode(err, api.ErrPartitionNotFound)) {
		if ts := p.topics[r.topic]; ts != nil {
			ts.fetchedAt = time.Time{} // ask the broker again
		}
	}
	p.putBufLocked(body)
	for _, b := range r.batches {
		p.putBufLocked(b.buf)
	}
	p.buffered -= r.bytes
	p.answered++
	close(p.progress)
	p.progress = make(chan struct{})
	p.mu.Unlock()
}
