package broker

import (
	"errors"
	"fmt"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// AttrJSON is the one record attribute a publisher may set: it marks a
// value that is JSON text, to be returned as that JSON by the HTTP API.
// Every other record attribute bit is refused, whichever way the record
// came in.
const AttrJSON int8 = 0x01

// incoming is what the broker checks of one record to publish, whichever
// way it came in: a JSON message (Publish) or a record of a client-encoded
// batch (PublishBatches). Both paths call topic.checkRecord, so a rule
// added there holds for every way in.
type incoming struct {
	frame      int   // index of the batch frame, or -1 for a Publish message
	index      int   // index of the message, or of the record in its frame
	partition  int32 // AnyPartition or the partition asked for
	timestamp  int64 // 0: the broker's clock
	attributes int8
	size       int // key, value and headers, as Message.size counts
}

// where names the record in an error message (built only on failure: the
// check runs per record on the publish path).
func (r *incoming) where() string {
	if r.frame < 0 {
		return fmt.Sprintf("message %d", r.index)
	}
	return fmt.Sprintf("frame %d record %d", r.frame, r.index)
}

// checkRecord validates one record against t's rules. The error's details
// carry the record's indexes.
func (t *topic) checkRecord(r *incoming, tb timeBounds) error {
	err := t.recordError(r, tb)
	if err == nil {
		return nil
	}
	if r.frame >= 0 {
		return err.WithDetail("frame", r.frame).WithDetail("record", r.index).WithDetail("index", r.frame)
	}
	return err.WithDetail("index", r.index)
}

func (t *topic) recordError(r *incoming, tb timeBounds) *api.Error {
	n := int32(len(t.parts))
	if r.partition != AnyPartition && (r.partition < 0 || r.partition >= n) {
		return api.ErrPartitionNotFound.
			Withf("%s: topic %q has partitions 0..%d; there is no partition %d", r.where(), t.cfg.Name, n-1, r.partition).
			WithDetail("topic", t.cfg.Name).WithDetail("partition", r.partition).WithDetail("partitions", n)
	}
	if err := tb.check(r); err != nil {
		return err
	}
	if r.attributes&^AttrJSON != 0 {
		return api.ErrInvalidArgument.Withf("%s: record attributes %#02x; only %#02x (JSON value) may be set", r.where(), uint8(r.attributes), AttrJSON).
			WithDetail("field", "attributes")
	}
	if r.size > int(t.cfg.MaxMessageBytes) {
		return api.ErrMessageTooLarge.
			Withf("%s is %d bytes (key, value and headers); topic %q allows %d", r.where(), r.size, t.cfg.Name, t.cfg.MaxMessageBytes).
			WithDetail("size", r.size).WithDetail("max_message_bytes", t.cfg.MaxMessageBytes)
	}
	return nil
}

// check validates every message of a Publish against t and returns the
// first problem.
func (t *topic) check(msgs []Message, tb timeBounds) error {
	for i := range msgs {
		m := &msgs[i]
		r := incoming{frame: -1, index: i, partition: m.Partition, timestamp: m.Timestamp, attributes: m.Attributes, size: m.size()}
		if err := t.checkRecord(&r, tb); err != nil {
			return err
		}
	}
	return nil
}

// checkFrame validates frame i of a PublishBatches in one pass over its
// bytes: its framing and CRC, batch attributes the broker does not
// implement (compression, a LogAppendTime timestamp type, transactions,
// control batches: a client must not believe it got them), then each record
// by the log's rules and checkRecord together. It returns the checked
// batch, for appending without checking it again.
func (t *topic) checkFrame(i int, f Frame, tb timeBounds) (commitlog.Checked, error) {
	n := int32(len(t.parts))
	if f.Partition < 0 || f.Partition >= n {
		return commitlog.Checked{}, api.ErrPartitionNotFound.
			Withf("frame %d: topic %q has partitions 0..%d; there is no partition %d", i, t.cfg.Name, n-1, f.Partition).
			WithDetail("index", i).WithDetail("topic", t.cfg.Name).WithDetail("partition", f.Partition).WithDetail("partitions", n)
	}
	bad := func(err error) error {
		return api.ErrBadRequest.Withf("frame %d is not a valid uncompressed Kafka RecordBatch v2: %v", i, err).
			WithDetail("index", i)
	}
	c, err := commitlog.CheckFrame(f.Batch)
	if err != nil {
		return c, bad(err)
	}
	if attrs := c.Attributes(); attrs != 0 {
		return c, api.ErrInvalidArgument.Withf("frame %d: batch attributes %#04x; the broker takes uncompressed, non-transactional, non-control batches with CreateTime timestamps (attributes 0)", i, attrs).
			WithDetail("index", i).WithDetail("field", "attributes")
	}
	err = c.CheckRecords(commitlog.Decompression{}, func(j int, br commitlog.BatchRecord) error {
		r := incoming{frame: i, index: j, partition: f.Partition, timestamp: br.Timestamp, attributes: br.Attributes, size: br.Size}
		return t.checkRecord(&r, tb)
	})
	if errors.Is(err, commitlog.ErrCorrupt) {
		return c, bad(err)
	}
	if err == nil {
		c.SetMaxTimestamp() // as the Kafka listener's batches: see checkKafkaBatch
	}
	return c, err
}
