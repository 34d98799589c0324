package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// flush sends the queued acknowledgements and nacks, and with consumed also
// what AutoCommit counts as processed, as ranges of consecutive offsets. What
// the broker refuses because the message moved on (handed off, already
// settled) is dropped: it is redelivered elsewhere, at least once. What could
// not be sent is queued again and the error returned.
func (c *Consumer) flush(ctx context.Context, consumed bool) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	return c.flushLocked(ctx, consumed)
}

// flushUntilClose is flush for the application (Poll, Commit): it ends,
// returning ErrClosed, when Close starts. A flush holds flushMu across
// its requests, which against a hung coordinator take an ack's bound
// each, for several attempts; Close, whose commit needs flushMu, waited
// for them all, past its CloseTimeout. What such a flush had taken is
// queued again, and Close commits it.
func (c *Consumer) flushUntilClose(ctx context.Context, consumed bool) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(c.closing, func() { cancel(ErrClosed) })
	defer stop()
	err := c.flush(ctx, consumed)
	if err != nil && context.Cause(ctx) == ErrClosed {
		return ErrClosed
	}
	return err
}

// flushLocked is flush with flushMu held. On the consumer stream it
// returns once the broker applied what it sent; what the stream could not
// deliver goes as requests.
func (c *Consumer) flushLocked(ctx context.Context, consumed bool) error {
	if st := c.liveStream(); st != nil {
		err := c.flushStreamLocked(ctx, st, consumed, true)
		switch {
		case errors.Is(err, errStreamGone):
			// Frames written before the stream failed and not confirmed
			// by a PONG are queued again by its reader as it returns, but
			// a failed write does not end the reader: end it and wait.
			// Sending what is queued now would leave those out, and this
			// flush would report as applied what the broker may never
			// have read (a commit returning nil for acknowledgements the
			// coordinator died before applying).
			st.conn.Close()
			select {
			case <-st.done:
			case <-ctx.Done():
				return ctx.Err()
			}
		case !errors.Is(err, errStreamRefused):
			return err
		}
	}
	c.mu.Lock()
	s := &c.state
	acks, nacks := s.takeAcksLocked(consumed), s.nacks
	s.nacks = nil
	sess := s.session
	c.mu.Unlock()
	for len(acks) > 0 {
		req, rest := nextRequest(acks)
		if err := c.send(ctx, sess, "/ack", api.AckRequest{Ranges: req}); err != nil {
			if refused(err) {
				c.dropUnsent(req)
				req = nil // see refused
			}
			c.requeue(sess, append(req, rest...), nacks)
			return err
		}
		acks = rest
	}
	for len(nacks) > 0 {
		// Requests per run of nacks with the same options.
		var opts NackOptions
		var refs []api.MessageRef
		opts, refs, nacks = nextNackRun(nacks)
		for len(refs) > 0 {
			ranges, k := rangesOf(refs)
			req := api.AckRequest{Ranges: ranges, Requeue: &opts.Requeue, DelayMS: opts.Delay.Milliseconds(), Reason: opts.Reason, Release: opts.release}
			err := c.send(ctx, sess, "/nack", req)
			if err != nil && opts.release && isCode(err, api.ErrBadRequest) {
				// A broker older than release refuses the field: a plain
				// nack still hands the messages back at once, at the cost
				// of a retry.
				req.Release = false
				err = c.send(ctx, sess, "/nack", req)
			}
			if err != nil {
				if refused(err) {
					refs = refs[k:] // see refused
				}
				c.requeue(sess, nil, append(nacksOf(refs, opts), nacks...))
				return err
			}
			refs = refs[k:]
		}
	}
	return nil
}

// refused reports whether the broker answered a settle request with an
// error it says will not change on a retry (api.Error.Retriable false).
// Such a request is dropped rather than queued again: sent again at every
// flush, which every Ack and Nack wakes, it made client and broker spin on
// the same refusal. Its messages stay the broker's: at the visibility
// deadline they are delivered again, at least once as always.
func refused(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && !ae.Retriable
}

// nextNackRun splits the first run of nacks with the same options off
// nacks: those options, the run's messages in offset order (as rangesOf
// needs them), and the nacks after the run.
func nextNackRun(nacks []pendingNack) (NackOptions, []api.MessageRef, []pendingNack) {
	opts, n := nacks[0].opts, 1
	for n < len(nacks) && nacks[n].opts == opts {
		n++
	}
	refs := make([]api.MessageRef, n)
	for i := range refs {
		refs[i] = nacks[i].ref
	}
	sortRefs(refs)
	return opts, refs, nacks[n:]
}

// nacksOf is refs as nacks with opts.
func nacksOf(refs []api.MessageRef, opts NackOptions) []pendingNack {
	out := make([]pendingNack, len(refs))
	for i, r := range refs {
		out[i] = pendingNack{r, opts}
	}
	return out
}

// send posts one ack or nack request for session sess, heartbeating and
// retrying on STALE_GENERATION.
func (c *Consumer) send(ctx context.Context, sess uint64, path string, req api.AckRequest) error {
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		if sess != c.state.session || !c.state.joined {
			// That membership is gone, and its messages with it:
			// acknowledgements of them are dropped, and reported by the
			// next commit.
			if path == "/ack" {
				c.state.dropUnsentLocked(req.Ranges)
			}
			c.mu.Unlock()
			return nil
		}
		req.MemberID, req.Generation = c.state.member, c.state.generation
		c.mu.Unlock()
		err := c.t.do(answerWithin(ctx, c.settleWithin()), http.MethodPost, c.path+path, req, nil)
		switch {
		case err == nil:
			return nil
		case isCode(err, api.ErrNotInFlight), isCode(err, api.ErrNotOwner):
			if path == "/ack" {
				c.countLost(err)
			}
			return nil
		case mustRejoin(err):
			c.lose(sess)
			if path == "/ack" {
				c.dropUnsent(req.Ranges)
			}
			return nil
		case isCode(err, api.ErrStaleGeneration) && attempt < 3:
			c.heartbeat(ctx)
		default:
			return err
		}
	}
}

// settleWithin bounds each attempt of an ack or nack, a group's write
// (see groupWrite), and the wait for the stream's PONG that confirms
// them: a coordinator stopped or hung held a Poll, Commit or the
// background goroutine (its heartbeats with it) that sent one for as long
// as it stayed so. Sent again elsewhere after a cut, what the first
// applied is refused NOT_IN_FLIGHT, as settled: send takes it as done,
// not as lost.
func (c *Consumer) settleWithin() time.Duration { return 2 * c.t.readWithin }

// requeue puts back acknowledgements that could not be sent.
func (c *Consumer) requeue(sess uint64, acks []api.OffsetRange, nacks []pendingNack) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sess != c.state.session || !c.state.joined {
		c.state.dropUnsentLocked(acks) // their membership ended (lost, or replaced)
		return
	}
	c.state.requeueAcksLocked(acks)
	c.state.nacks = append(nacks, c.state.nacks...)
}

// countLost counts the acknowledgements err, an ack's refusal, says were
// lost (api.AckLost) from the answer its details.result carries: the next
// commit reports them. The others it refused were settled already.
func (c *Consumer) countLost(err error) {
	var ae *api.Error
	if !errors.As(err, &ae) {
		return
	}
	b, jerr := json.Marshal(ae.Details["result"]) // the answer, as it came
	var res api.AckResponse
	if jerr != nil || json.Unmarshal(b, &res) != nil {
		return
	}
	if res.FailedCount > 0 { // the broker counted them: its list may be cut
		c.addLost(int64(res.Lost))
		return
	}
	var n int64
	for _, f := range res.Failed { // a broker older than the counts lists them all
		if f.Error != nil && api.AckLost(f.Error) {
			n++
		}
	}
	c.addLost(n)
}

// addLost counts n acknowledgements the broker refused as lost.
func (c *Consumer) addLost(n int64) {
	if n == 0 {
		return
	}
	c.mu.Lock()
	c.state.lost += n
	c.mu.Unlock()
}

// dropUnsent counts acks, refused or sent under a membership that ended,
// as dropped unsent: the next commit reports them.
func (c *Consumer) dropUnsent(acks []api.OffsetRange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state.dropUnsentLocked(acks)
}
