package coordinator

import (
	"errors"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
)

// Ack settles messages the member holds; each group's committed offset
// advances over the acknowledged prefix, and the answer comes once that is
// durable. Every message is tried: the answer counts the successes and lists
// the failures; the error, when any message failed, is the first failure's
// with details.result holding the answer. Per-message errors:
// MESSAGE_NOT_IN_FLIGHT (also a double ack, harmless), NOT_PARTITION_OWNER,
// UNKNOWN_MEMBER_ID, FENCED_MEMBER, STALE_GENERATION, and TOPIC_NOT_FOUND or
// PARTITION_NOT_FOUND for a partition that does not exist.
func (c *Coordinator) Ack(groupID string, req Settle, host string) (SettleResult, error) {
	return c.settle(groupID, req, host, groupstate.Settle{Op: groupstate.OpAck})
}

// Nack reports messages the member failed to process: each is delivered
// again after req.Delay or the exponential backoff, or, with req.Reject
// or after the group's max retries, written to <topic>.dlq and settled.
// With req.Release the member hands them back unprocessed instead: each is
// deliverable again at once and no retry is spent. Answers and errors as
// for Ack.
func (c *Coordinator) Nack(groupID string, req NackParams, host string) (SettleResult, error) {
	if err := checkDuration("nack delay", req.Delay, MaxDelay, api.ErrInvalidArgument); err != nil {
		return SettleResult{}, err
	}
	if req.Release {
		if req.Reject || req.Delay != 0 {
			return SettleResult{}, api.ErrInvalidArgument.Withf("a release hands messages back at once: it neither rejects nor delays them")
		}
		return c.settle(groupID, req.Settle, host, groupstate.Settle{Op: groupstate.OpRelease})
	}
	return c.settle(groupID, req.Settle, host, groupstate.Settle{Op: groupstate.OpNack,
		Nack: delivery.NackOptions{Reject: req.Reject, Delay: req.Delay, Reason: req.Reason}})
}

// Extend pushes the visibility deadline of messages the member holds to
// req.Visibility from now (0: the group's visibility timeout).
// Answers and errors as for Ack.
func (c *Coordinator) Extend(groupID string, req ExtendParams, host string) (SettleResult, error) {
	if err := checkDuration("visibility timeout", req.Visibility, MaxDelay, api.ErrInvalidArgument); err != nil {
		return SettleResult{}, err
	}
	return c.settle(groupID, req.Settle, host, groupstate.Settle{Op: groupstate.OpExtend, Visibility: req.Visibility})
}

// settle runs op on every message req names. When any failed, the error
// is the first failure's with details.result holding the SettleResult.
func (c *Coordinator) settle(groupID string, req Settle, host string, op groupstate.Settle) (SettleResult, error) {
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
	if err := c.b.Writable(); err != nil {
		return SettleResult{}, err // nothing applied: the offsets could not be kept
	}
	op.Member, op.Generation, op.Host = req.MemberID, req.Generation, host
	op.Messages = refScratch.get()
	defer func() { refScratch.put(op.Messages) }()
	for _, m := range req.Messages {
		op.Messages = append(op.Messages, groupstate.Ref{TP: delivery.TP{Topic: m.Topic, Partition: m.Partition}, Offset: m.Offset})
	}
	for _, r := range req.Ranges {
		op.Ranges = append(op.Ranges, groupstate.Range{TP: delivery.TP{Topic: r.Topic, Partition: r.Partition}, From: r.From, To: r.To})
	}
	op.Missing = c.missing(op)
	cg.mu.Lock()
	res, fx := cg.a.Settle(c.now(), op)
	p := c.doneLocked(cg, fx)
	cg.mu.Unlock()
	p.durable = true // an ack retried after "not durable" answers once it is
	// Dead letters are written before the answer, so that a nack's message
	// is in the DLQ when the nack returns (unless the write failed: then it
	// is retried with backoff, and the nack still succeeds).
	werr := c.perform(cg, p)
	resp := SettleResult{Succeeded: res.Succeeded}
	var first error
	for _, f := range res.Failed {
		var ae *api.Error
		if !errors.As(f.Err, &ae) {
			ae = api.ErrInternal.Withf("internal error")
		}
		resp.Failed = append(resp.Failed, SettleFailure{MessageRef: MessageRef{Topic: f.Ref.TP.Topic, Partition: f.Ref.TP.Partition, Offset: f.Ref.Offset}, Err: ae})
		if first == nil {
			first = f.Err
		}
	}
	if werr != nil {
		return resp, c.notDurable(werr, resp)
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

// missing maps each partition op names that does not exist to its
// TOPIC_NOT_FOUND or PARTITION_NOT_FOUND (groupstate.Settle.Missing); nil
// when all exist, as they nearly always do.
func (c *Coordinator) missing(op groupstate.Settle) map[delivery.TP]error {
	var (
		out  map[delivery.TP]error
		last delivery.TP
	)
	check := func(i int, tp delivery.TP) {
		if i > 0 && tp == last {
			return // messages of one partition come together
		}
		last = tp
		if _, err := c.b.Partition(tp.Topic, tp.Partition); errors.Is(err, api.ErrTopicNotFound) || errors.Is(err, api.ErrPartitionNotFound) {
			if out == nil {
				out = make(map[delivery.TP]error)
			}
			out[tp] = err
		}
	}
	for i, m := range op.Messages {
		check(i, m.TP)
	}
	for i, r := range op.Ranges {
		check(len(op.Messages)+i, r.TP)
	}
	return out
}

// MaxRangeMessages is the most messages the ranges of one ack, nack or
// extend may name together.
const MaxRangeMessages = api.MaxRangeMessages

// CheckRanges rejects a range of a negative partition, one that is empty
// or reversed, and ranges that name more than MaxRangeMessages messages
// together.
func CheckRanges(rs []OffsetRange) error {
	var n int64
	for i, r := range rs {
		if r.Partition < 0 {
			return api.ErrInvalidArgument.Withf("range %d: partition %d is not a partition", i, r.Partition).
				WithDetail("index", i)
		}
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

// notDurable is the answer to an ack, nack or extend whose settlements were
// applied in memory (by the group's aggregate, so they hold: those
// messages are not delivered again) but whose offset write then failed. It says exactly that,
// with the coded storage error and details.result, instead of a bare 500
// that a client would take for "nothing happened". The settled offsets are
// written again with the group's next offset write, or by the timer loop
// within rewriteAfter (cgroup.unwritten): a retry of the same settle is
// such a write, answered not durable until it succeeds.
func (c *Coordinator) notDurable(err error, resp SettleResult) error {
	const what = "the messages were settled in memory and will not be delivered again, but writing the group's offsets failed"
	var ae *api.Error
	if !errors.As(c.b.StorageError(err, what), &ae) {
		ae = api.ErrInternal.Withf("%s: %v", what, err)
	}
	return ae.WithDetail("result", resp).WithDetail("applied", true).WithDetail("durable", false)
}
