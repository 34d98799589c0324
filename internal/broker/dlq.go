package broker

import (
	"errors"
	"strconv"
	"strings"
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
		_, err = b.createTopic(api.CreateTopicRequest{
			Name: name, Partitions: partitions,
			RetentionHours: src.cfg.RetentionHours, RetentionBytes: src.cfg.RetentionBytes,
			SegmentBytes: src.cfg.SegmentBytes, SegmentMS: src.cfg.SegmentMS,
			MaxMessageBytes: int32(min(int64(src.cfg.MaxMessageBytes)+dlqHeadroom, MaxMessageLimit)),
			Fsync:           src.cfg.Fsync,
		}, 2*b.cfg.Limits.withDefaults().MaxTopics) // a DLQ may pass MaxTopics: see Limits
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

// ReplayDLQ publishes dead messages of topic's DLQ (api.DLQName) back to
// topic, or to req.Target, without their disposition headers. It goes
// through the DLQ partitions offset by offset from req.Offset, and stops
// after the last offset at which it could replay every partition without
// passing req.Max messages (default 1000), so NextOffset is exact: a replay
// from it repeats nothing. A message returning to its own topic keeps its
// partition. Errors: TOPIC_NOT_FOUND (no DLQ or no target).
func (b *Broker) ReplayDLQ(topic string, req api.DLQReplayRequest) (api.DLQReplayResponse, error) {
	if req.Max < 0 || req.Offset < 0 {
		return api.DLQReplayResponse{}, api.ErrInvalidArgument.Withf("offset and max must not be negative")
	}
	max := req.Max
	if max == 0 {
		max = 1000
	}
	target := req.Target
	if target == "" {
		target = topic
	}
	dlq, err := b.lookup(api.DLQName(topic))
	if err != nil {
		return api.DLQReplayResponse{}, err
	}
	dest, err := b.lookup(target)
	if err != nil {
		return api.DLQReplayResponse{}, err
	}
	resp := api.DLQReplayResponse{NextOffset: req.Offset}
	for off := req.Offset; ; off++ {
		var layer []Message
		for _, p := range dlq.parts {
			if off < p.log.EarliestOffset() || off >= p.log.HighWatermark() {
				continue
			}
			recs, err := p.log.Read(off, 1, 1)
			if err != nil {
				return resp, b.logError(err, dlq, p.id)
			}
			for _, r := range recs {
				if r.Offset == off {
					layer = append(layer, replayed(r, target == topic, int32(len(dest.parts))))
				}
			}
		}
		if len(layer) == 0 && !b.anyAbove(dlq, off) {
			return resp, nil
		}
		if resp.Replayed > 0 && resp.Replayed+len(layer) > max {
			return resp, nil
		}
		if len(layer) > 0 {
			if _, err := b.Publish(target, layer); err != nil {
				return resp, err
			}
		}
		resp.Replayed += len(layer)
		resp.NextOffset = off + 1
		if resp.Replayed >= max {
			return resp, nil
		}
	}
}

// anyAbove reports whether some partition of t holds offsets above off.
func (b *Broker) anyAbove(t *topic, off int64) bool {
	for _, p := range t.parts {
		if p.log.HighWatermark() > off+1 {
			return true
		}
	}
	return false
}

// replayed is r as a message to publish again: the disposition headers
// dropped, and, when it returns to its own topic, its original partition.
func replayed(r commitlog.Record, home bool, partitions int32) Message {
	m := Message{Key: r.Key, Value: r.Value, Partition: AnyPartition, Timestamp: r.Timestamp, Attributes: r.Attributes}
	for _, h := range r.Headers {
		if h.Key == api.DLQHeaderOriginalPartition && home {
			if p, err := strconv.ParseInt(string(h.Value), 10, 32); err == nil && int32(p) < partitions {
				m.Partition = int32(p)
			}
		}
		if !strings.HasPrefix(h.Key, api.DLQHeaderPrefix) {
			m.Headers = append(m.Headers, h)
		}
	}
	return m
}
