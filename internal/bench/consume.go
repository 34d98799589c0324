package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// seen records which offsets of each partition were delivered, so that a
// redelivery during a rebalance is counted once. Guarded by mu. Indexed by
// partition, not keyed: two map lookups per message were 5% of the bench
// client's CPU in a consume, charged to the client under test.
type seen struct {
	mu    sync.Mutex
	bits  [][]uint64 // partition → one bit per offset below its high watermark at the start
	hwm   []int64    // partition → its high watermark at the start; immutable
	dups  int64
	extra int64 // deliveries beyond the high watermarks (a stray producer, an unknown partition): counted, not deduplicated
}

func newSeen(hwm map[int32]int64) *seen {
	s := &seen{}
	for p, n := range hwm {
		if p < 0 {
			continue
		}
		for int(p) >= len(s.hwm) {
			s.hwm = append(s.hwm, 0)
			s.bits = append(s.bits, nil)
		}
		s.hwm[p], s.bits[p] = n, make([]uint64, (n+63)/64)
	}
	return s
}

// add marks msgs delivered and returns how many were new.
func (s *seen) add(msgs []*client.Message) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var fresh int64
	for _, m := range msgs {
		p := int(m.Partition)
		if p < 0 || p >= len(s.hwm) || m.Offset < 0 || m.Offset >= s.hwm[p] {
			s.extra++
			continue
		}
		b, w, bit := s.bits[p], m.Offset/64, uint64(1)<<(m.Offset%64)
		if b[w]&bit != 0 {
			s.dups++
			continue
		}
		b[w] |= bit
		fresh++
	}
	return fresh
}

// consume reads topic from the start with a group of cfg.Members members,
// acking every message, until each message published before it began has
// been received; then every member commits. The time runs from the start
// of the first member to the last commit, so it includes joining the group.
func consume(ctx context.Context, cfg Config, admin *client.Client, topic string) (Result, error) {
	res := Result{Phase: "consume", Topic: topic, Members: cfg.Members}
	info, err := admin.Topic(ctx, topic)
	if err != nil {
		return res, fmt.Errorf("bench: describe topic: %w", err)
	}
	hwm := make(map[int32]int64, len(info.PartitionInfo))
	for _, p := range info.PartitionInfo {
		hwm[p.Partition] = p.HighWatermark
		res.Msgs += p.HighWatermark - p.EarliestOffset
	}
	group := topic + "-group"
	defer admin.DeleteGroup(context.WithoutCancel(ctx), group) //nolint:errcheck // best effort, after Close left it

	s := newSeen(hwm)
	var received, refused atomic.Int64
	stop := startProgress(cfg, fmt.Sprintf("consume (%d members, ack each)", cfg.Members), res.Msgs, &received)
	defer stop()

	cctx, cancel := context.WithCancelCause(ctx)
	var watcher errgroup.Group
	watcher.Go(func() error { watch(cctx, cancel, cfg, &received, res.Msgs); return nil })
	defer func() {
		cancel(nil)
		_ = watcher.Wait() // watch returns nil
	}()

	start := time.Now()
	members, err := cfg.members(group, topic)
	if err != nil {
		return res, err
	}
	for _, m := range members {
		defer m.Close()
	}
	var g errgroup.Group
	for _, c := range members {
		g.Go(func() error {
			for cctx.Err() == nil {
				msgs, err := c.Poll(cctx, cfg.Fetch)
				if err != nil {
					if cctx.Err() != nil {
						break
					}
					if ackRefused(err) {
						refused.Add(1)
						continue
					}
					cancel(err)
					return err
				}
				for _, m := range msgs {
					if err := c.Ack(m); err != nil {
						if !errors.Is(err, client.ErrRevoked) {
							cancel(err)
							return err
						}
						refused.Add(1)
					}
				}
				if received.Add(s.add(msgs)) >= res.Msgs {
					cancel(nil)
				}
			}
			// Send the acknowledgements still pending: the workload ends
			// when the broker has them.
			if err := c.CommitContext(context.WithoutCancel(ctx)); err != nil {
				if !ackRefused(err) {
					return err
				}
				refused.Add(1)
			}
			return nil
		})
	}
	err = g.Wait()
	elapsed := time.Since(start)
	if cause := context.Cause(cctx); cause != nil && cause != context.Canceled {
		err = cause
	}
	cancel(nil)
	res.Acked = received.Load()
	res.Duplicates = s.dups
	res.Errors = refused.Load()
	res.finish(cfg, res.Acked, elapsed)
	if err == nil && res.Acked < res.Msgs {
		err = fmt.Errorf("bench: consumed %d of %d messages", res.Acked, res.Msgs)
	}
	return res, err
}

// ackRefused reports an error of the broker refusing acknowledgements
// (409 Conflict: a message handed to another member or redelivered after
// its visibility timeout before the ack arrived; a commit says it as
// client.ErrAckLost). A consumer logs it and goes on: the message is
// delivered again, and counted once here.
func ackRefused(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Status == http.StatusConflict ||
		errors.Is(err, client.ErrAckLost) && !errors.Is(err, client.ErrRevoked)
}
