package crashtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/abd-ulbasit/goqueue/api"
)

// consumer is the one member of a consumer group: each epoch it joins, polls
// and settles every batch it gets, by acknowledging the messages or by
// committing the offset after the batch's last message of each partition,
// at random. It records what the broker confirmed with a 2xx, so that a
// restarted broker can be held to it. Its fields are touched only by the
// goroutine running it (one epoch at a time) and by the test goroutine
// between epochs.
type consumer struct {
	group, topic string
	partitions   int32
	rng          *rand.Rand

	// committed is, per partition, the highest offset a commit was
	// confirmed for: everything below it is settled.
	committed map[int32]int64
	// acked holds the offsets whose ack was confirmed.
	acked map[int32]map[int64]bool
	// delivered holds every offset ever handed out by a poll.
	delivered map[int32]map[int64]bool

	// Counts for the test's log.
	polls, acks, commits int // polls that returned messages; confirmed acks and commits
	redelivered          int // deliveries of an offset delivered before (unsettled at a kill)
}

func newConsumer(group, topic string, partitions int32, seed uint64) *consumer {
	c := &consumer{group: group, topic: topic, partitions: partitions, rng: rand.New(rand.NewPCG(seed, 1<<32)),
		committed: make(map[int32]int64), acked: make(map[int32]map[int64]bool), delivered: make(map[int32]map[int64]bool)}
	for p := range partitions {
		c.acked[p] = make(map[int64]bool)
		c.delivered[p] = make(map[int64]bool)
	}
	return c
}

// settled reports whether the broker confirmed offset off of p as done.
func (c *consumer) settled(p int32, off int64) bool {
	return off < c.committed[p] || c.acked[p][off]
}

// floor is the least committed offset the broker may report for p: the
// confirmed commit, raised over the confirmed acks that follow it.
func (c *consumer) floor(p int32) int64 {
	f := c.committed[p]
	for c.acked[p][f] {
		f++
	}
	return f
}

// member is one membership of the consumer, valid for one broker process.
type member struct {
	id         string
	generation int64
}

// join joins the group and heartbeats until the member owns every
// partition (it is the only member, so that takes no rebalance).
func (c *consumer) join(ctx context.Context, cl *client) (member, error) {
	var jr api.JoinResponse
	err := cl.call(ctx, "POST", "/groups/"+c.group+"/join", api.JoinRequest{Topics: []string{c.topic}, SessionTimeoutMS: 30000}, &jr)
	if err != nil {
		return member{}, err
	}
	m := member{jr.MemberID, jr.Generation}
	owned := jr.AssignedPartitions
	for range 100 {
		if len(owned[c.topic]) == int(c.partitions) {
			return m, nil
		}
		var hr api.HeartbeatResponse
		if err := cl.call(ctx, "POST", "/groups/"+c.group+"/heartbeat",
			api.HeartbeatRequest{MemberID: m.id, Generation: m.generation, OwnedPartitions: owned}, &hr); err != nil {
			return member{}, err
		}
		m.generation, owned = hr.Generation, hr.AssignedPartitions
	}
	return member{}, fmt.Errorf("sole member %s owns %v, not all %d partitions", m.id, owned, c.partitions)
}

// run consumes until ctx ends or the broker stops answering. It returns an
// error for a broken promise: a settled message delivered again, or a
// non-2xx answer to a valid request.
func (c *consumer) run(ctx context.Context, cl *client) error {
	err := c.consume(ctx, cl, false)
	if errors.Is(err, errGone) {
		return nil
	}
	return err
}

// consume joins and settles polled batches; with drain it returns at the
// first empty poll instead of running until ctx ends.
func (c *consumer) consume(ctx context.Context, cl *client, drain bool) error {
	m, err := c.join(ctx, cl)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		var pr api.PollResponse
		if err := cl.call(ctx, "POST", "/groups/"+c.group+"/poll",
			api.PollRequest{MemberID: m.id, Generation: m.generation, MaxMessages: 50, WaitMS: 50}, &pr); err != nil {
			return err
		}
		if len(pr.Messages) == 0 {
			if drain {
				return nil
			}
			continue
		}
		c.polls++
		refs := make([]api.MessageRef, len(pr.Messages))
		next := make(map[int32]int64) // per partition, one past the batch's last offset
		for i, msg := range pr.Messages {
			if msg.Topic != c.topic || msg.Partition < 0 || msg.Partition >= c.partitions {
				return fmt.Errorf("poll handed out %s/%d", msg.Topic, msg.Partition)
			}
			if c.settled(msg.Partition, msg.Offset) {
				return fmt.Errorf("partition %d offset %d delivered again (delivery %d) after the broker confirmed it settled (committed %d)",
					msg.Partition, msg.Offset, msg.DeliveryCount, c.committed[msg.Partition])
			}
			if c.delivered[msg.Partition][msg.Offset] {
				c.redelivered++
			}
			c.delivered[msg.Partition][msg.Offset] = true
			refs[i] = api.MessageRef{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset}
			next[msg.Partition] = max(next[msg.Partition], msg.Offset+1)
		}
		if c.rng.IntN(3) == 0 {
			offs := api.Offsets{c.topic: next}
			if err := cl.call(ctx, "POST", "/groups/"+c.group+"/offsets",
				api.CommitOffsetsRequest{MemberID: m.id, Generation: m.generation, Offsets: offs}, nil); err != nil {
				return err
			}
			for p, off := range next {
				c.committed[p] = max(c.committed[p], off)
			}
			c.commits++
			continue
		}
		var ar api.AckResponse
		if err := cl.call(ctx, "POST", "/groups/"+c.group+"/ack",
			api.AckRequest{MemberID: m.id, Generation: m.generation, Messages: refs}, &ar); err != nil {
			return err
		}
		if ar.Succeeded != len(refs) {
			return fmt.Errorf("ack of %d messages: %d succeeded", len(refs), ar.Succeeded)
		}
		for _, r := range refs {
			c.acked[r.Partition][r.Offset] = true
		}
		c.acks++
	}
	return nil
}

// checkOffsets compares the group's offsets on a restarted broker with what
// was confirmed before: none may be lower.
func (c *consumer) checkOffsets(ctx context.Context, cl *client) error {
	var or api.OffsetsResponse
	err := cl.call(ctx, "GET", "/groups/"+c.group+"/offsets", nil, &or)
	var se *statusError
	if errors.As(err, &se) && se.status == 404 {
		or.Offsets = nil // no group yet: every floor must be 0
	} else if err != nil {
		return err
	}
	for p := range c.partitions {
		want := c.floor(p)
		got, ok := or.Offsets[c.topic][p]
		if want > 0 && (!ok || got < want) {
			return fmt.Errorf("group offset of partition %d is %d (present %v); %d was confirmed before the kill", p, got, ok, want)
		}
	}
	return nil
}

// checkCoverage, after a drain, checks that the group got every message
// below each high watermark at least once, and that its committed offsets
// reached the high watermarks.
func (c *consumer) checkCoverage(ctx context.Context, cl *client, hwms map[int32]int64) error {
	var or api.OffsetsResponse
	if err := cl.call(ctx, "GET", "/groups/"+c.group+"/offsets", nil, &or); err != nil {
		return err
	}
	for p := range c.partitions {
		for off := range hwms[p] {
			if !c.delivered[p][off] {
				return fmt.Errorf("partition %d offset %d was never delivered to the group", p, off)
			}
		}
		if got := or.Offsets[c.topic][p]; got != hwms[p] {
			return fmt.Errorf("partition %d: committed offset %d after the drain, high watermark %d", p, got, hwms[p])
		}
	}
	return nil
}
