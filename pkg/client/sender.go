package client

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// run is the producer's dispatcher: it starts the send of each sealed
// request as soon as its partitions are free and fewer than MaxInFlight are
// in flight, and seals open requests whose linger has passed. It returns
// once the producer is closed, nothing is left to send, and every send it
// started has finished.
func (p *Producer) run() {
	defer close(p.done)
	var sends sync.WaitGroup
	defer sends.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r, ok := p.next(timer)
		if !ok {
			return
		}
		sends.Add(1)
		go func() {
			defer sends.Done()
			p.send(r)
		}()
	}
}

// next waits for a request that may be sent now and marks its partitions
// busy. It reports false when the producer is closed and drained.
func (p *Producer) next(timer *time.Timer) (*request, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if r := p.pickLocked(); r != nil {
			return r, true
		}
		var due time.Time
		now := time.Now()
		// With nothing in flight or waiting, lingering only adds latency:
		// an open request leaves at once, and the records that come while
		// it is out gather into the next one.
		idle := p.inFlight == 0 && len(p.ready) == 0
		for _, ts := range p.topics {
			if ts.open == nil {
				continue
			}
			d := ts.open.opened.Add(p.cfg.Linger)
			if idle || !d.After(now) {
				p.sealLocked(ts)
				continue
			}
			if due.IsZero() || d.Before(due) {
				due = d
			}
		}
		if r := p.pickLocked(); r != nil {
			return r, true
		}
		if p.closed && len(p.ready) == 0 {
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

// pickLocked takes the first ready request none of whose partitions is in
// flight or waiting in an earlier ready request, if fewer than MaxInFlight
// are in flight.
func (p *Producer) pickLocked() *request {
	if p.inFlight >= p.cfg.MaxInFlight {
		return nil
	}
	var earlier map[partKey]bool
	for i, r := range p.ready {
		free := true
		for _, part := range r.parts {
			k := partKey{r.topic, part}
			if p.busy[k] || earlier[k] {
				free = false
				break
			}
		}
		if free {
			p.ready = append(p.ready[:i], p.ready[i+1:]...)
			for _, part := range r.parts {
				p.busy[partKey{r.topic, part}] = true
			}
			p.inFlight++
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

// send posts r and reports the outcome to its callbacks.
func (p *Producer) send(r *request) {
	p.mu.Lock()
	body := p.takeBufLocked()
	p.mu.Unlock()
	for _, part := range r.parts {
		body = api.AppendFrame(body, part, r.batches[part].Finish(recordbatch.NewHeader(0))) // the broker assigns offsets
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
	for _, part := range r.parts {
		delete(p.busy, partKey{r.topic, part})
	}
	p.inFlight--
	p.signal() // a request waiting for these partitions may go now
	p.putBufLocked(body)
	for _, b := range r.batches {
		p.putBufLocked(b.Bytes())
	}
	p.buffered -= r.bytes
	delete(p.pending, r.seq)
	close(p.progress)
	p.progress = make(chan struct{})
	p.mu.Unlock()
}
