package broker

import (
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// deadLetterLocked writes dl to its topic's DLQ (api.DLQName: same
// partition number, the original key, value, headers and timestamp, plus the
// disposition headers), and only then settles it in the group, so a failed
// write loses nothing: the message stays a pending dead letter, which the
// timer loop retries with backoff (cg.deadFailed). A failed write is not the
// caller's error: a client's valid nack succeeds even when the DLQ cannot
// take the message now. The first failure is logged here, the retries log
// their own. The error reports only a failure to settle. Callers hold cg.mu.
func (c *coordinator) deadLetterLocked(cg *cgroup, dl delivery.DeadLetter) error {
	if err := c.writeDeadLetter(cg.id, dl); err != nil {
		if !cg.deadFailed {
			c.b.log.Error("dead-letter write failed; kept pending and retried with backoff", "group", cg.id, "topic", dl.TP.Topic, "partition", dl.TP.Partition, "offset", dl.Offset, "err", err)
		}
		cg.deadFailed = true
		return nil
	}
	return cg.d.DeadLettered(dl.TP, dl.Offset)
}

func (c *coordinator) writeDeadLetter(groupID string, dl delivery.DeadLetter) error {
	t, err := c.b.lookup(dl.TP.Topic)
	if err != nil {
		if errors.Is(err, api.ErrTopicNotFound) {
			return nil // the topic and its messages are gone: nothing to keep
		}
		return err
	}
	p, err := t.partition(dl.TP.Partition)
	if err != nil {
		return nil
	}
	recs, err := p.log.Read(dl.Offset, 1, 1)
	var re *commitlog.RangeError
	switch {
	case errors.As(err, &re):
		c.b.log.Warn("dead letter removed by retention before it reached the DLQ", "group", groupID, "topic", dl.TP.Topic, "partition", dl.TP.Partition, "offset", dl.Offset)
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
	dlq, err := c.b.ensureDLQ(t)
	if err != nil {
		return err
	}
	headers := append(append([]commitlog.Header(nil), r.Headers...),
		commitlog.Header{Key: api.DLQHeaderReason, Value: truncated(dl.Reason)},
		commitlog.Header{Key: api.DLQHeaderOriginalTopic, Value: []byte(dl.TP.Topic)},
		commitlog.Header{Key: api.DLQHeaderOriginalPartition, Value: strconv.AppendInt(nil, int64(dl.TP.Partition), 10)},
		commitlog.Header{Key: api.DLQHeaderOriginalOffset, Value: strconv.AppendInt(nil, dl.Offset, 10)},
		commitlog.Header{Key: api.DLQHeaderOriginalTimestamp, Value: strconv.AppendInt(nil, r.Timestamp, 10)},
		commitlog.Header{Key: api.DLQHeaderGroup, Value: []byte(groupID)},
		commitlog.Header{Key: api.DLQHeaderDeliveryCount, Value: strconv.AppendInt(nil, int64(dl.DeliveryCount), 10)},
		commitlog.Header{Key: api.DLQHeaderLastError, Value: truncated(dl.LastError)},
		commitlog.Header{Key: api.DLQHeaderDiedAt, Value: strconv.AppendInt(nil, c.b.now().UnixMilli(), 10)},
	)
	_, err = c.b.Publish(dlq, []Message{{
		Key: r.Key, Value: r.Value, Headers: headers, Partition: dl.TP.Partition,
		Timestamp: r.Timestamp, Attributes: r.Attributes,
	}})
	return err
}

// dlqHeadroom is what a DLQ allows beyond its source topic's
// max_message_bytes: room for the disposition headers (their keys, two
// texts of at most api.DLQMaxReasonBytes, a topic and a group name of at most
// 249 bytes, four numbers), so that any message its source took fits.
const dlqHeadroom = 4 << 10

// truncated returns s cut to api.DLQMaxReasonBytes at a UTF-8 boundary.
func truncated(s string) []byte {
	if len(s) <= api.DLQMaxReasonBytes {
		return []byte(s)
	}
	n := api.DLQMaxReasonBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return []byte(s[:n])
}

// ensureDLQ returns the name of src's DLQ, creating it, or growing it to
// src's partition count, if needed. A DLQ it creates takes src's retention,
// segment and fsync settings, and src's max_message_bytes plus dlqHeadroom
// (up to MaxMessageLimit). An existing DLQ is used as it is.
func (b *Broker) ensureDLQ(src *topic) (string, error) {
	name := api.DLQName(src.cfg.Name)
	partitions := int32(len(src.parts))
	t, err := b.lookup(name)
	switch {
	case errors.Is(err, api.ErrTopicNotFound):
		segmentMS := src.cfg.SegmentMS
		if segmentMS > 0 {
			segmentMS = max(segmentMS, MinSegmentMS) // src may predate the minimum
		}
		spec := src.cfg.spec()
		spec.Name, spec.Partitions = name, partitions
		spec.SegmentAge = time.Duration(segmentMS) * time.Millisecond
		spec.MaxMessageBytes = int32(min(int64(src.cfg.MaxMessageBytes)+dlqHeadroom, MaxMessageLimit))
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

// retryDeadLocked writes the pending dead letters whose DLQ write failed,
// and returns the partitions it settled; cg.deadFailed stays set while one
// still fails. Callers hold cg.mu.
func (c *coordinator) retryDeadLocked(cg *cgroup) []delivery.TP {
	cg.deadFailed = false
	var dirty []delivery.TP
	for _, dl := range cg.d.Dead() {
		err := c.writeDeadLetter(cg.id, dl)
		if err == nil {
			err = cg.d.DeadLettered(dl.TP, dl.Offset)
		}
		if err != nil {
			cg.deadFailed = true
			c.b.log.Error("dead-letter write failed again", "group", cg.id, "topic", dl.TP.Topic, "offset", dl.Offset, "err", err)
			continue
		}
		dirty = append(dirty, dl.TP)
	}
	return dirty
}
