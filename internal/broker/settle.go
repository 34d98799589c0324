package broker

import (
	"errors"
	"slices"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// settleOp is what Ack, Nack and Extend do to one message the member holds.
// It reports whether the partition's settled offsets changed (and must be
// persisted). Called under cg.mu with ownership already checked.
type settleOp func(c *coordinator, cg *cgroup, tp delivery.TP, off int64) (bool, error)

// Ack settles messages the member holds; each group's committed offset
// advances over the acknowledged prefix, and the answer comes once that is
// durable. Every message is tried: the answer counts the successes and lists
// the failures; the error, when any message failed, is the first failure's
// with details.result holding the answer. Per-message errors:
// MESSAGE_NOT_IN_FLIGHT (also a double ack, harmless), NOT_PARTITION_OWNER,
// UNKNOWN_MEMBER_ID, FENCED_MEMBER, STALE_GENERATION.
func (b *Broker) Ack(groupID string, req Settle, host string) (SettleResult, error) {
	return b.coord.settle(groupID, req, host, func(c *coordinator, cg *cgroup, tp delivery.TP, off int64) (bool, error) {
		return true, cg.d.Ack(req.MemberID, tp, off)
	})
}

// Nack reports messages the member failed to process: each is delivered
// again after req.Delay or the exponential backoff, or, with req.Reject
// or after the group's max retries, written to <topic>.dlq and settled.
// With req.Release the member hands them back unprocessed instead: each is
// deliverable again at once and no retry is spent. Answers and errors as
// for Ack.
func (b *Broker) Nack(groupID string, req NackParams, host string) (SettleResult, error) {
	if err := checkDuration("nack delay", req.Delay, MaxDelay, api.ErrInvalidArgument); err != nil {
		return SettleResult{}, err
	}
	if req.Release {
		if req.Reject || req.Delay != 0 {
			return SettleResult{}, api.ErrInvalidArgument.Withf("a release hands messages back at once: it neither rejects nor delays them")
		}
		return b.coord.settle(groupID, req.Settle, host, func(c *coordinator, cg *cgroup, tp delivery.TP, off int64) (bool, error) {
			if err := cg.d.HandBack(req.MemberID, tp, off); err != nil {
				return false, err
			}
			cg.signalLocked() // deliverable now: wake the partition's long polls
			return false, nil
		})
	}
	opt := delivery.NackOptions{Reject: req.Reject, Delay: req.Delay, Reason: req.Reason}
	return b.coord.settle(groupID, req.Settle, host, func(c *coordinator, cg *cgroup, tp delivery.TP, off int64) (bool, error) {
		out, err := cg.d.Nack(c.b.now(), req.MemberID, tp, off, opt)
		if err != nil {
			return false, err
		}
		if !out.Dead {
			cg.hints.add(out.RetryAt)
			return false, nil
		}
		return true, c.deadLetterLocked(cg, out.Letter)
	})
}

// Extend pushes the visibility deadline of messages the member holds to
// req.Visibility from now (0: the group's visibility timeout).
// Answers and errors as for Ack.
func (b *Broker) Extend(groupID string, req ExtendParams, host string) (SettleResult, error) {
	if err := checkDuration("visibility timeout", req.Visibility, MaxDelay, api.ErrInvalidArgument); err != nil {
		return SettleResult{}, err
	}
	return b.coord.settle(groupID, req.Settle, host, func(c *coordinator, cg *cgroup, tp delivery.TP, off int64) (bool, error) {
		d := req.Visibility
		if d <= 0 {
			d = cg.d.Config().VisibilityTimeout
		}
		now := c.b.now()
		if err := cg.d.Extend(now, req.MemberID, tp, off, d); err != nil {
			return false, err
		}
		cg.hints.add(now.Add(d))
		return false, nil
	})
}

// settle applies op to every message req names. When any failed, the error
// is the first failure's with details.result holding the SettleResult.
func (c *coordinator) settle(groupID string, req Settle, host string, op settleOp) (SettleResult, error) {
	if len(req.Messages) == 0 && len(req.Ranges) == 0 {
		return SettleResult{}, api.ErrInvalidArgument.Withf("no messages named")
	}
	if err := CheckRanges(req.Ranges); err != nil {
		return SettleResult{}, err
	}
	cg, err := c.lookup(groupID)
	if err != nil {
		return SettleResult{}, err
	}
	if err := c.b.writable(); err != nil {
		return SettleResult{}, err // nothing applied: the offsets could not be kept
	}
	var (
		resp   SettleResult
		first  error
		writes []offsetstore.Write
		dirty  []delivery.TP
	)
	// one applies op to one message whose ownership check gave owner.
	one := func(m MessageRef, owner error) {
		tp := delivery.TP{Topic: m.Topic, Partition: m.Partition}
		err := owner
		changed := false
		if err == nil {
			changed, err = op(c, cg, tp, m.Offset)
		}
		if changed && !slices.Contains(dirty, tp) {
			dirty = append(dirty, tp)
		}
		if err != nil {
			var ae *api.Error
			if !errors.As(err, &ae) {
				ae = api.ErrInternal.Withf("internal error")
			}
			resp.Failed = append(resp.Failed, SettleFailure{MessageRef: m, Err: ae})
			if first == nil {
				first = err
			}
			return
		}
		resp.Succeeded++
	}
	cg.mu.Lock()
	if _, ok := cg.g.Member(req.MemberID); ok {
		cg.hosts[req.MemberID] = host
	}
	for _, m := range req.Messages {
		one(m, cg.g.CheckOwner(req.MemberID, req.Generation, m.Topic, m.Partition))
	}
	for _, r := range req.Ranges {
		// Ownership cannot change under cg.mu: one check serves the range.
		owner := cg.g.CheckOwner(req.MemberID, req.Generation, r.Topic, r.Partition)
		for off := r.From; off < r.To; off++ {
			one(MessageRef{Topic: r.Topic, Partition: r.Partition, Offset: off}, owner)
		}
	}
	for _, tp := range dirty {
		writes = append(writes, c.snapshotLocked(cg, tp))
	}
	c.scheduleLocked(cg, c.b.now()) // nack retries, extensions, failed DLQ writes
	cg.mu.Unlock()
	if err := c.store.Write(writes); err != nil {
		return resp, c.b.notDurable(err, resp)
	}
	if first != nil {
		var ae *api.Error
		if errors.As(first, &ae) {
			return resp, ae.WithDetail("result", resp)
		}
		return resp, first
	}
	return resp, nil
}

// MaxRangeMessages is the most messages the ranges of one ack, nack or
// extend may name together.
const MaxRangeMessages = api.MaxRangeMessages

// CheckRanges rejects a range that is empty or reversed, and ranges that
// name more than MaxRangeMessages messages together.
func CheckRanges(rs []OffsetRange) error {
	var n int64
	for i, r := range rs {
		if r.From < 0 || r.To <= r.From {
			return api.ErrInvalidArgument.Withf("range %d: [%d, %d) names no message", i, r.From, r.To).
				WithDetail("index", i)
		}
		if n += r.To - r.From; n > MaxRangeMessages || n < 0 {
			return api.ErrInvalidArgument.Withf("ranges name more than %d messages", MaxRangeMessages).
				WithDetail("max", MaxRangeMessages)
		}
	}
	return nil
}
