package broker

import (
	"errors"
	"strconv"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
)

// writeDeadLetter writes dl to its topic's DLQ (api.DLQName: same
// partition number, the original key, value, headers and timestamp, plus
// the disposition headers). The group settles dl only once this succeeded
// (groupstate.Group.DeadLetterWritten), so a failed write loses nothing:
// the message stays a pending dead letter, which the group hands out again
// after a backoff. A failed write is not a client's error: a valid nack
// succeeds even when the DLQ cannot take the message now. nil also means
// there was nothing to keep: the topic (the one dl is of: created at
// dl.Born) or the record is gone. It runs with no group lock held: it may
// create or grow the DLQ topic and publish to it.
func (b *Broker) writeDeadLetter(groupID string, dl groupstate.DeadLetter) error {
	t, err := b.lookup(dl.TP.Topic)
	if err != nil {
		if errors.Is(err, api.ErrTopicNotFound) {
			return nil // the topic and its messages are gone: nothing to keep
		}
		return err
	}
	if dl.Born != 0 && t.cfg.CreatedAt != dl.Born {
		return nil // created again since: the message is gone with its topic
	}
	p, err := t.partition(dl.TP.Partition)
	if err != nil {
		return nil
	}
	recs, err := p.log.Read(dl.Offset, 1, 1)
	var re *commitlog.RangeError
	switch {
	case errors.As(err, &re):
		b.log.Warn("dead letter removed by retention before it reached the DLQ", "group", groupID, "topic", dl.TP.Topic, "partition", dl.TP.Partition, "offset", dl.Offset)
		return nil
	case err != nil:
		return err
	}
	for len(recs) > 0 && recs[0].Offset < dl.Offset {
		recs = recs[1:]
	}
	if len(recs) == 0 {
		return nil
	}
	r := recs[0]
	headers := append(append([]commitlog.Header(nil), r.Headers...),
		commitlog.Header{Key: api.DLQHeaderReason, Value: truncated(dl.Reason)},
		commitlog.Header{Key: api.DLQHeaderOriginalTopic, Value: []byte(dl.TP.Topic)},
		commitlog.Header{Key: api.DLQHeaderOriginalPartition, Value: strconv.AppendInt(nil, int64(dl.TP.Partition), 10)},
		commitlog.Header{Key: api.DLQHeaderOriginalOffset, Value: strconv.AppendInt(nil, dl.Offset, 10)},
		commitlog.Header{Key: api.DLQHeaderOriginalTimestamp, Value: strconv.AppendInt(nil, r.Timestamp, 10)},
		commitlog.Header{Key: api.DLQHeaderGroup, Value: []byte(groupID)},
		commitlog.Header{Key: api.DLQHeaderDeliveryCount, Value: strconv.AppendInt(nil, int64(dl.DeliveryCount), 10)},
		commitlog.Header{Key: api.DLQHeaderLastError, Value: truncated(dl.LastError)},
		commitlog.Header{Key: api.DLQHeaderDiedAt, Value: strconv.AppendInt(nil, b.now().UnixMilli(), 10)},
	)
	msg := Message{
		Key: r.Key, Value: r.Value, Headers: headers, Partition: dl.TP.Partition,
		Timestamp: r.Timestamp, Attributes: r.Attributes,
	}
	if c, ok := b.repl.(ClusterDLQ); ok && b.replicated(t) {
		spec := dlqSpec(t)
		if err := c.EnsureDLQ(spec); err != nil {
			return err
		}
		batches, _ := encodeBatches([]Message{msg}, []int{0}, b.now().UnixMilli())
		_, err := c.AppendVia(spec.Name, dl.TP.Partition, batches)
		return err
	}
	dlq, err := b.ensureDLQ(t)
	if err != nil {
		return err
	}
	_, err = b.Publish(dlq, []Message{msg})
	return err
}

// ClusterDLQ keeps the DLQs of a cluster's replicated topics in the
// cluster, as replicated topics themselves: a dead letter written to a
// topic local to its group's coordinator would be lost with that node's
// disk, and be elsewhere after the coordinator moves. So are their
// replays and purges, which any node may be asked for (dlqreplay.go). A
// cluster node's Replicator implements it.
type ClusterDLQ interface {
	// EnsureDLQ makes spec's topic (a DLQ, as dlqSpec makes it) a topic
	// of the cluster, created with the cluster's replication factor if
	// missing and grown to spec's partition count if smaller; an
	// existing one is used as it is otherwise.
	EnsureDLQ(spec TopicSpec) error
	// AppendVia appends batches to partition of a replicated topic (a
	// dead letter to its DLQ, or a dead letter replayed) through the
	// partition's leader, wherever it is, and returns each batch's first
	// offset once a majority has them.
	AppendVia(topic string, partition int32, batches []byte) ([]int64, error)
	// ReadPoint waits until this node's copy of partition of a replicated
	// topic reflects every write acknowledged before the call.
	ReadPoint(topic string, partition int32) error
	// Replays is the replay record of a replicated DLQ (a dlqReplayed in
	// JSON; nil: nothing replayed), which the cluster's metadata keeps
	// with the topic, and its version (0: never set), as of a
	// linearizable read. SetReplays replaces it if it is still at
	// version expect, and returns its new version, else fails
	// ErrReplaysChanged (also when an earlier attempt of the same call,
	// whose outcome was unknown, did replace it). A version is never
	// reused, also by the DLQ purged and created again.
	Replays(dlq string) (record []byte, version uint64, err error)
	SetReplays(dlq string, record []byte, expect uint64) (version uint64, err error)
	// ID is this node's ID, which a replay's claim names.
	ID() uint64
	// DeleteDLQ deletes a replicated DLQ from the cluster: every node's
	// copy, and its replay record with it.
	DeleteDLQ(dlq string) error
}

// dlqHeadroom is what a DLQ allows beyond its source topic's
// max_message_bytes: room for the disposition headers (their keys, two
// texts of at most api.DLQMaxReasonBytes, a topic and a group name of at most
// 249 bytes, four numbers), so that any message its source took fits.
const dlqHeadroom = 4 << 10

// truncated returns s cut to api.DLQMaxReasonBytes at a UTF-8 boundary.
func truncated(s string) []byte { return []byte(api.CutReason(s)) }

// ensureDLQ returns the name of src's DLQ, creating it (as dlqSpec says),
// or growing it to src's partition count, if needed. An existing DLQ is
// used as it is.
func (b *Broker) ensureDLQ(src *topic) (string, error) {
	spec := dlqSpec(src)
	name, partitions := spec.Name, spec.Partitions
	t, err := b.lookup(name)
	switch {
	case errors.Is(err, api.ErrTopicNotFound):
		_, err = b.createTopic(spec, 2*b.cfg.Limits.withDefaults().MaxTopics) // a DLQ may pass MaxTopics: see Limits
		if errors.Is(err, api.ErrTopicExists) {
			return b.ensureDLQ(src)
		}
		return name, err
	case err != nil:
		return "", err
	case int32(len(t.parts)) < partitions:
		_, err = b.AddPartitions(name, partitions)
		if errors.Is(err, api.ErrInvalidPartitions) {
			err = nil // grown meanwhile by another writer
		}
		return name, err
	}
	return name, nil
}

// dlqSpec is the spec of src's DLQ: src's partition count, retention,
// segment and fsync settings, and src's max_message_bytes plus
// dlqHeadroom (up to MaxMessageLimit).
func dlqSpec(src *topic) TopicSpec {
	segmentMS := src.cfg.SegmentMS
	if segmentMS > 0 {
		segmentMS = max(segmentMS, MinSegmentMS) // src may predate the minimum
	}
	spec := src.cfg.spec()
	spec.Name, spec.Partitions = api.DLQName(src.cfg.Name), int32(len(src.parts))
	spec.SegmentAge = time.Duration(segmentMS) * time.Millisecond
	spec.MaxMessageBytes = int32(min(int64(src.cfg.MaxMessageBytes)+dlqHeadroom, MaxMessageLimit))
	return spec
}
