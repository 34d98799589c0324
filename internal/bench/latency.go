package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// Each latency message carries, in its first bytes, when it was meant to be
// sent and when it was sent, as nanoseconds since the workload's start on
// the monotonic clock (sender and receivers are in this process).
const (
	intendedAt = 0
	sentAt     = 8
	seqAt      = 16
	stampBytes = 24
)

// Latency runs the end-to-end workload on a fresh topic: cfg.Members
// members poll (acking each message) while one producer sends cfg.Rate
// messages a second for cfg.Duration. Sends follow a fixed schedule, and
// latency is measured from each message's intended send time as well as
// from its actual one: a stalled sender makes the first figure grow, as a
// user's would (coordinated omission corrected), not hide the stall.
func Latency(ctx context.Context, cfg Config) (Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	if cfg.Size < stampBytes {
		return Result{}, fmt.Errorf("bench: latency messages need at least %d bytes, not %d", stampBytes, cfg.Size)
	}
	admin, err := cfg.admin()
	if err != nil {
		return Result{}, err
	}
	topic, err := newTopic(ctx, admin, cfg, "lat")
	if err != nil {
		return Result{}, err
	}
	defer admin.DeleteTopic(context.WithoutCancel(ctx), topic) //nolint:errcheck // best effort
	group := topic + "-group"
	defer admin.DeleteGroup(context.WithoutCancel(ctx), group) //nolint:errcheck // best effort, after Close

	total := int64(float64(cfg.Rate) * cfg.Duration.Seconds())
	res := Result{Phase: "latency", Topic: topic, Members: cfg.Members, Rate: cfg.Rate, Msgs: total}
	epoch := time.Now()
	since := func() int64 { return int64(time.Since(epoch)) }
	if cfg.probe != nil {
		// The probe times HTTP requests: the stream's frames pass it by.
		cfg.httpClient, cfg.NoStream = cfg.probe.begin(epoch, total), true
	}

	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	members, err := cfg.members(group, topic)
	if err != nil {
		return res, err
	}
	for _, m := range members {
		defer m.Close()
	}
	got := newSeqSet(total)
	var received atomic.Int64
	fromIntended := make([]Histogram, cfg.Members)
	fromSent := make([]Histogram, cfg.Members)
	allIn := make(chan struct{})
	var g errgroup.Group
	for i, c := range members {
		g.Go(func() error {
			for cctx.Err() == nil {
				msgs, err := c.Poll(cctx, cfg.Fetch)
				if err != nil {
					if cctx.Err() != nil {
						return nil
					}
					cancel(err)
					return err
				}
				now := since()
				for _, m := range msgs {
					_ = c.Ack(m) // refused only for a revoked partition: its redelivery is dropped below as a duplicate
					if len(m.Value) < stampBytes {
						continue
					}
					seq := int64(binary.BigEndian.Uint64(m.Value[seqAt:]))
					if !got.add(seq) {
						continue
					}
					fromIntended[i].Record(now - int64(binary.BigEndian.Uint64(m.Value[intendedAt:])))
					fromSent[i].Record(now - int64(binary.BigEndian.Uint64(m.Value[sentAt:])))
					if cfg.probe != nil {
						cfg.probe.received(seq, now)
					}
					if received.Add(1) == total {
						close(allIn)
					}
				}
			}
			return nil
		})
	}
	stopMembers := func() error {
		cancel(nil)
		return g.Wait()
	}
	if err := settle(cctx, members, cfg.Partitions); err != nil {
		_ = stopMembers()
		return res, err
	}

	p, err := cfg.producer(cfg.LatencyLinger)
	if err != nil {
		_ = stopMembers()
		return res, err
	}
	defer p.Close()
	var sent, failed atomic.Int64
	stop := startProgress(cfg, fmt.Sprintf("latency (%d msg/s for %v)", cfg.Rate, cfg.Duration), total, &sent)
	sendErr := send(cctx, cfg, p, topic, total, since, &sent, &failed)
	stop()
	if sendErr == nil {
		// Wait for the stragglers, but not forever.
		select {
		case <-allIn:
		case <-time.After(cfg.Stall):
		case <-cctx.Done():
		}
	}
	cause := context.Cause(cctx)
	if err := stopMembers(); err != nil && sendErr == nil {
		sendErr = err
	}
	if cause != nil && sendErr == nil {
		sendErr = cause
	}

	var in, out Histogram
	for i := range members {
		in.Merge(&fromIntended[i])
		out.Merge(&fromSent[i])
	}
	res.Received = received.Load()
	res.Duplicates = got.dups.Load()
	res.Errors = failed.Load()
	us := func(h *Histogram, q float64) float64 { return float64(h.Quantile(q)) / 1e3 }
	res.P50, res.P90, res.P99, res.P999, res.Max = us(&out, .5), us(&out, .9), us(&out, .99), us(&out, .999), float64(out.Max())/1e3
	res.CoP50, res.CoP90, res.CoP99, res.CoP999, res.CoMax = us(&in, .5), us(&in, .9), us(&in, .99), us(&in, .999), float64(in.Max())/1e3
	res.finish(cfg, res.Received, cfg.Duration)
	if sendErr == nil && res.Received < total {
		sendErr = fmt.Errorf("bench: received %d of %d messages within %v of the last send", res.Received, total, cfg.Stall)
	}
	return res, sendErr
}

// latencyProbe watches the latency workload stage by stage: it sees every
// request of the workload's clients through the HTTP client begin returns,
// and is told when each message reached the application. Times are
// nanoseconds since epoch on the monotonic clock, as the messages' stamps
// are. Only the instrumented runs of stages_test.go set one, so the
// workload as users run it carries no instrumentation.
type latencyProbe interface {
	begin(epoch time.Time, total int64) *http.Client
	received(seq, at int64)
}

// send publishes total messages at cfg.Rate, each stamped with its intended
// and actual send times. It sleeps until the next message is due and then
// sends every message due by now (timers here wake about a millisecond
// late, so messages leave in small bursts; the intended times stay exact).
func send(ctx context.Context, cfg Config, p *client.Producer, topic string, total int64, since func() int64,
	sent, failed *atomic.Int64) error {
	interval := int64(time.Second) / int64(cfg.Rate)
	value := make([]byte, cfg.Size)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	rec := &client.Record{Value: value} // PublishAsync copies the value before it returns
	cb := func(_ client.Position, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	start := since()
	for seq := int64(0); seq < total; {
		now := since()
		due := min((now-start)/interval+1, total)
		for ; seq < due; seq++ {
			binary.BigEndian.PutUint64(value[intendedAt:], uint64(start+seq*interval))
			binary.BigEndian.PutUint64(value[sentAt:], uint64(since()))
			binary.BigEndian.PutUint64(value[seqAt:], uint64(seq))
			p.PublishAsync(ctx, topic, rec, cb)
		}
		sent.Store(seq)
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if seq < total {
			if wait := time.Duration(start + seq*interval - since()); wait > 0 {
				time.Sleep(wait)
			}
		}
	}
	if err := p.Flush(ctx); err != nil {
		return err
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("bench: %d of %d publishes failed", n, total)
	}
	return nil
}

// settle waits until the group's members own every partition between them,
// so the measurement does not include joining. The members must be polling.
func settle(ctx context.Context, members []*client.Consumer, partitions int32) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		owned := 0
		for _, c := range members {
			for _, parts := range c.Assignment() {
				owned += len(parts)
			}
		}
		if owned == int(partitions) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: the group owns %d of %d partitions after 30 s", owned, partitions)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// seqSet records which sequence numbers in [0, n) arrived; safe for
// concurrent use (one atomic word per 64 numbers).
type seqSet struct {
	words []atomic.Uint64
	dups  *atomic.Int64
}

func newSeqSet(n int64) seqSet {
	return seqSet{words: make([]atomic.Uint64, (n+63)/64), dups: new(atomic.Int64)}
}

// add marks seq arrived and reports whether it is new; numbers out of range
// count as duplicates.
func (s seqSet) add(seq int64) bool {
	if seq < 0 || seq/64 >= int64(len(s.words)) {
		s.dups.Add(1)
		return false
	}
	w, bit := &s.words[seq/64], uint64(1)<<(seq%64)
	if w.Or(bit)&bit != 0 {
		s.dups.Add(1)
		return false
	}
	return true
}
