package broker

import (
	"errors"
	"fmt"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// AnyPartition in Message.Partition lets the broker choose: by key with
// Kafka's murmur2 partitioner, or round-robin for keyless messages.
const AnyPartition int32 = -1

// Message is one message to publish.
type Message struct {
	Key        []byte // nil: no key
	Value      []byte // nil: a null value
	Headers    []commitlog.Header
	Partition  int32 // AnyPartition or an existing partition
	Timestamp  int64 // ms since the Unix epoch; 0: the broker's clock
	Attributes int8  // stored in the record's attributes byte
}

// size is what counts against a topic's max_message_bytes.
func (m *Message) size() int {
	n := len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// Position is where a published message landed.
type Position struct {
	Partition int32
	Offset    int64
}

// Publish appends msgs to topic and returns, in order, where each landed.
//
// Every message is checked before anything is written, so an invalid message
// (too large, unknown partition, negative timestamp) fails the whole call
// with nothing written; the error's details carry the index of the first bad
// one. The valid messages are appended as one record batch per partition (a
// very large batch as several), in ascending partition order. Appends to
// different partitions are not atomic together: if the disk fails midway,
// the partitions written before the failure keep their messages, and the
// error says which (partlyWritten).
//
// When Publish returns nil, the messages are as durable as the topic's fsync
// policy promises.
func (b *Broker) Publish(topicName string, msgs []Message) ([]Position, error) {
	return b.publish(topicName, msgs, nil)
}

// publish is Publish, writing a replicated topic through via (nil: the
// Replicator's Append, which refuses partitions another node leads).
func (b *Broker) publish(topicName string, msgs []Message, via appendFunc) ([]Position, error) {
	start := time.Now()
	t, err := b.lookup(topicName)
	if err != nil {
		return nil, err
	}
	defer b.latency.publishFor(t.cfg.Fsync).since(start)
	if len(msgs) == 0 {
		return nil, api.ErrInvalidArgument.Withf("no messages to publish").WithDetail("field", "messages")
	}
	if err := b.writable(); err != nil {
		return nil, err
	}
	clock := b.now()
	if err := t.check(msgs, b.timeBounds(clock)); err != nil {
		return nil, err
	}
	now := clock.UnixMilli()
	n := int32(len(t.parts))
	pos := make([]Position, len(msgs))
	perPart := make([][]int, n) // message indexes per partition, in request order
	for i := range msgs {
		m := &msgs[i]
		p := m.Partition
		switch {
		case p != AnyPartition:
		case m.Key != nil:
			p = api.KeyPartition(m.Key, n)
		default:
			p = int32((t.rr.Add(1) - 1) % uint32(n))
		}
		pos[i].Partition = p
		perPart[p] = append(perPart[p], i)
	}
	if b.replicated(t) {
		if err := b.publishReplicated(t, msgs, perPart, now, pos, via); err != nil {
			return nil, err
		}
		return pos, nil
	}
	var written []int32
	for p, idx := range perPart {
		if len(idx) == 0 {
			continue
		}
		n, err := b.appendTo(t, t.parts[p], msgs, idx, now, pos)
		if n > 0 {
			written = append(written, int32(p))
		}
		if err != nil {
			return nil, partlyWritten(err, t, written)
		}
	}
	return pos, nil
}

// partlyWritten is the error of a publish that failed after written (the
// partitions that took some of its messages) were appended to: the same
// coded error, not retriable, with details.written_partitions, as a
// replicated topic's publish says it. Sent again whole, the request would
// store those messages twice; a client that got a retriable 507 did so.
// With nothing written it is err as is.
func partlyWritten(err error, t *topic, written []int32) error {
	var ae *api.Error
	if len(written) == 0 || !errors.As(err, &ae) {
		return err
	}
	e := ae.WithDetail("written_partitions", written)
	e.Message = fmt.Sprintf("partitions %v of %q took messages of this request before it failed; retrying the whole request stores those again: %s", written, t.cfg.Name, ae.Message)
	e.Retriable = false
	return e
}

// appendTo appends msgs[idx...] to p in batches of about maxBatchBytes and
// records their offsets in pos. It returns how many of idx were written:
// all of them, unless it fails after some batches were.
func (b *Broker) appendTo(t *topic, p *partition, msgs []Message, idx []int, now int64, pos []Position) (int, error) {
	total := len(idx)
	for len(idx) > 0 {
		size, k := 0, 0
		for k < len(idx) && (k == 0 || size+msgs[idx[k]].size() <= maxBatchBytes) {
			size += msgs[idx[k]].size()
			k++
		}
		recs := make([]commitlog.Record, k)
		for j, i := range idx[:k] {
			m := &msgs[i]
			ts := m.Timestamp
			if ts == 0 {
				ts = now
			}
			recs[j] = commitlog.Record{Timestamp: ts, Key: m.Key, Value: m.Value, Headers: m.Headers, Attributes: m.Attributes}
		}
		base, err := p.log.Append(recs)
		if err != nil {
			return total - len(idx), b.logError(err, t, p.id)
		}
		p.dirty.Store(true)
		p.traffic.countPublished(k, size)
		for j, i := range idx[:k] {
			pos[i].Offset = base + int64(j)
		}
		idx = idx[k:]
	}
	return total, nil
}
