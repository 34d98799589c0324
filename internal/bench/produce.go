package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// ProduceConsume runs the throughput workloads on one fresh topic: publish
// cfg.Messages values of cfg.Size bytes with producers concurrent
// Producers, then consume them all with a group of cfg.Members members that
// ack every message. The topic and group are deleted afterwards.
func ProduceConsume(ctx context.Context, cfg Config, producers int) (produced, consumed Result, err error) {
	if cfg, err = cfg.withDefaults(); err != nil {
		return produced, consumed, err
	}
	admin, err := cfg.admin()
	if err != nil {
		return produced, consumed, err
	}
	topic, err := newTopic(ctx, admin, cfg, fmt.Sprintf("p%d", producers))
	if err != nil {
		return produced, consumed, err
	}
	defer admin.DeleteTopic(context.WithoutCancel(ctx), topic) //nolint:errcheck // best effort: the figures are taken
	if produced, err = produce(ctx, cfg, topic, producers); err != nil {
		return produced, consumed, err
	}
	consumed, err = consume(ctx, cfg, admin, topic)
	consumed.Producers = producers
	return produced, consumed, err
}

// produce publishes cfg.Messages records, split evenly among producers,
// each with its own client.Producer (PublishAsync, then Flush), and times
// the whole from the first publish to the last answer.
func produce(ctx context.Context, cfg Config, topic string, producers int) (Result, error) {
	res := Result{Phase: "produce", Topic: topic, Producers: producers, Msgs: int64(cfg.Messages)}
	value := make([]byte, cfg.Size)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	var answered, failed atomic.Int64
	stop := startProgress(cfg, fmt.Sprintf("produce (%d producers)", producers), int64(cfg.Messages), &answered)
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var watcher errgroup.Group
	watcher.Go(func() error { watch(ctx, cancel, cfg, &answered, int64(cfg.Messages)); return nil })
	start := time.Now()
	var working errgroup.Group
	for i := range producers {
		n := cfg.Messages / producers
		if i < cfg.Messages%producers {
			n++
		}
		working.Go(func() error {
			p, err := cfg.producer(cfg.Linger)
			if err != nil {
				return err
			}
			defer p.Close()
			rec := &client.Record{Value: value} // PublishAsync copies the value: one record serves all
			cb := func(_ client.Position, err error) {
				if err != nil {
					failed.Add(1)
				}
				answered.Add(1)
			}
			for range n {
				p.PublishAsync(ctx, topic, rec, cb)
			}
			return p.Flush(ctx)
		})
	}
	err := working.Wait()
	elapsed := time.Since(start)
	cancel(nil)
	_ = watcher.Wait() // watch returns nil
	if cause := context.Cause(ctx); err != nil && cause != nil && cause != context.Canceled {
		err = cause
	}
	res.Errors = failed.Load()
	res.finish(cfg, int64(cfg.Messages)-res.Errors, elapsed)
	if err == nil && res.Errors > 0 {
		err = fmt.Errorf("bench: %d of %d publishes failed", res.Errors, cfg.Messages)
	}
	return res, err
}
