package broker

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// The methods in this file serve front ends that speak record batches
// rather than messages (the Kafka protocol): stored batches in and out as
// bytes, and the identity Kafka gives topics.

// ID is the topic's 16-byte identity (a UUID, version 8): a hash of its
// name and creation time, both kept in meta.db, so it is the same across
// restarts and new when a topic is deleted and created again.
func (c *TopicConfig) ID() [16]byte {
	h := sha256.New()
	h.Write([]byte(c.Name))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(c.CreatedAt)))
	var id [16]byte
	copy(id[:], h.Sum(nil))
	id[6] = id[6]&0x0f | 0x80 // version 8: vendor-specific
	id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant
	return id
}

// TopicByID returns the name of the topic whose ID is id: a map lookup
// (Kafka clients fetch and heartbeat by ID, so this is on hot paths).
// Errors: TOPIC_NOT_FOUND.
func (b *Broker) TopicByID(id [16]byte) (string, error) {
	b.mu.RLock()
	name, ok := b.byID[id]
	b.mu.RUnlock()
	if !ok {
		return "", api.ErrTopicNotFound.Withf("no topic has id %x", id)
	}
	return name, nil
}

// AppendBatch appends one Kafka RecordBatch v2 as a producer sent it,
// compressed or not, to one partition; the broker only assigns its offsets
// (rewriting its base offset). It returns the offset of the batch's first
// record once the batch is as durable as the topic's fsync policy promises.
//
// The batch is validated first (framing, CRC, decompressed records); a
// batch larger than the topic's max_message_bytes plus its header is
// MESSAGE_TOO_LARGE, as Kafka's max.message.bytes bounds a whole batch,
// and so is a compressed batch whose records decompress to more than
// twice max_message_bytes each (decompressLimit). Decompressing is
// charged to the broker's budget (Config.MaxDecompressBytes); a batch it
// has no room for now is TOO_MANY_REQUESTS.
// A batch with a producer ID is checked against the producer's sequences
// (producers.go): a duplicate is answered with its first offset and not
// written again.
// Errors: TOPIC_NOT_FOUND, PARTITION_NOT_FOUND, MESSAGE_TOO_LARGE,
// BAD_REQUEST (not a valid batch), TOO_MANY_REQUESTS,
// OUT_OF_ORDER_SEQUENCE, INVALID_PRODUCER_EPOCH.
func (b *Broker) AppendBatch(topicName string, partition int32, batch []byte) (int64, error) {
	base, durable, err := b.WriteBatch(topicName, partition, batch)
	if err != nil || durable == nil {
		return base, err
	}
	return base, durable()
}

// WriteBatch is AppendBatch in two steps, for a front end that pipelines a
// connection's requests: it writes the batch and returns its first offset
// at once, and durable, which returns once the batch is as durable as the
// topic's fsync policy promises: under fsync=always an fsync that every
// batch written meanwhile shares; nil when there is nothing to wait for
// (other policies; a replicated topic, whose batch is committed before
// WriteBatch returns). The batch is acknowledged only once durable returns
// nil; batches of a partition are written in the order WriteBatch is
// called. Errors: AppendBatch's, from either step.
func (b *Broker) WriteBatch(topicName string, partition int32, batch []byte) (base int64, durable func() error, err error) {
	start := time.Now()
	t, err := b.lookup(topicName)
	if err != nil {
		return 0, nil, err
	}
	p, err := t.partition(partition)
	if err != nil {
		return 0, nil, err
	}
	always := t.cfg.Fsync == FsyncAlways
	if limit := int(t.cfg.MaxMessageBytes) + recordbatch.HeaderLen; len(batch) > limit {
		return 0, nil, api.ErrMessageTooLarge.Withf("batch of %d bytes is more than the %d bytes topic %q allows", len(batch), limit, t.cfg.Name).
			WithDetail("max_message_bytes", t.cfg.MaxMessageBytes)
	}
	// The batch's checks come with its write; a corrupt one is refused
	// there, before its sequences count as written.
	frames := [1]Frame{{Partition: partition, Batch: batch}}
	adm, err := b.admit(t, frames[:])
	if err != nil {
		return 0, nil, err
	}
	defer adm.release()
	if base, ok := adm.duplicate(0); ok {
		if !always || b.replicated(t) {
			b.latency.publishFor(t.cfg.Fsync).since(start)
			return base, nil, nil
		}
		// Its first write may still be waiting for its fsync (on a
		// connection since closed): the answer waits for the log's.
		return base, b.durable(t, p, -1, start), nil
	}
	c, err := b.checkKafkaBatch(t, batch)
	if err != nil {
		return 0, nil, err
	}
	if b.replicated(t) {
		records := int(binary.BigEndian.Uint32(batch[recordbatch.OffRecordCount:]))
		bases, err := b.replicate(t, p, batch, records)
		if err != nil {
			return 0, nil, replicatedBatchError(err)
		}
		adm.written(0, bases[0], time.Now())
		b.latency.publishFor(t.cfg.Fsync).since(start)
		return bases[0], nil, nil
	}
	base, end, err := p.log.WriteChecked(&c)
	if err != nil {
		return 0, nil, b.logError(err, t, p.id)
	}
	adm.written(0, base, time.Now())
	p.dirty.Store(true)
	p.traffic.countPublished(int(binary.BigEndian.Uint32(batch[recordbatch.OffRecordCount:])), len(batch))
	if !always {
		// Nothing to wait for; Durable returns at once.
		if err := p.log.Durable(end); err != nil {
			return 0, nil, b.logError(err, t, p.id)
		}
		b.latency.publishFor(t.cfg.Fsync).since(start)
		return base, nil, nil
	}
	return base, b.durable(t, p, end, start), nil
}

// checkKafkaBatch checks a batch from a Kafka producer once, before it is
// written: its frame, its records, and their timestamps against the
// broker's window, as a publish's (Kafka producers bypassed it: a record
// stamped a century ahead was taken, and kept its segment from retention
// for good). A header's MaxTimestamp other than its records' largest is
// corrected, as Kafka does.
func (b *Broker) checkKafkaBatch(t *topic, batch []byte) (commitlog.Checked, error) {
	c, err := commitlog.CheckFrame(batch)
	limit := decompressLimit(t.cfg.MaxMessageBytes, c.NumRecords())
	if err == nil {
		err = c.CheckRecords(commitlog.Decompression{Limit: limit, Budget: b.decompress}, nil)
	}
	if err != nil {
		if errors.Is(err, recordbatch.ErrTooLarge) {
			return c, api.ErrMessageTooLarge.Withf("the batch's %d records decompress to more than %d bytes; topic %q takes messages of up to %d bytes (max_message_bytes), so a compressed batch may hold at most %d bytes a record",
				c.NumRecords(), limit, t.cfg.Name, t.cfg.MaxMessageBytes, perRecordDecompressed(t.cfg.MaxMessageBytes)).
				WithDetail("max_message_bytes", t.cfg.MaxMessageBytes)
		}
		if errors.Is(err, commitlog.ErrCorrupt) || errors.Is(err, commitlog.ErrUnsupported) {
			return c, api.ErrBadRequest.Withf("not a valid Kafka RecordBatch v2: %v", err)
		}
		if errors.Is(err, recordbatch.ErrBusy) {
			return c, b.decompressBusy()
		}
		return c, err
	}
	// A producer stamps CreateTime; a batch claiming the broker's time
	// (LogAppendTime) has its header's MaxTimestamp read as every record's
	// by consumers, and that claim is checked by nothing.
	if c.LogAppendTime() {
		return c, api.ErrInvalidTimestamp.Withf("the batch says LogAppendTime; a producer's batches carry CreateTime timestamps")
	}
	// The window holds every record if it holds the two ends, which
	// CheckRecords finds in its pass: no work per record beyond it. -1 is
	// Kafka's "no timestamp", which it takes.
	bounds := b.timeBounds(b.now())
	where := func() string { return "a record of the batch" }
	least, most := c.Timestamps()
	for _, ts := range [2]int64{most, least} {
		if ts == -1 {
			continue
		}
		if e := bounds.checkWindow(ts, where); e != nil {
			return c, e
		}
	}
	c.SetMaxTimestamp()
	return c, nil
}

// perRecordDecompressed is what each record of a compressed Kafka batch
// may decompress to on a topic whose messages are at most maxMessage
// bytes: twice that (a record's framing and headers come on top of its
// key and value), and at least 64 KiB (a tiny max_message_bytes).
// Producers bound a record before compressing it by about the same
// (max.request.size, message.max.bytes: 1 MB by default).
func perRecordDecompressed(maxMessage int32) int64 {
	return max(2*int64(maxMessage), 64<<10)
}

// decompressLimit is the most record data a compressed Kafka batch of
// records (as its header counts them; the check holds it to that) may
// decompress to: perRecordDecompressed each, and at most the log's
// bound. A batch of one record of 512 MiB of zeros, gzipped to 510 KB,
// was decompressed to the log's 128 MiB before it was refused; on a
// topic of 1 MiB messages it now stops at 2 MiB.
func decompressLimit(maxMessage, records int32) int {
	return int(min(int64(max(records, 1))*perRecordDecompressed(maxMessage), commitlog.MaxDecompressed))
}

// decompressBusy is the error of a compressed batch whose check or read
// found no room in the decompression budget: other checks and reads hold
// it, and this one may pass once they end.
func (b *Broker) decompressBusy() error {
	return api.ErrTooManyRequests.Withf("the broker is decompressing %d bytes of record batches at once, its limit; retry shortly", b.decompress.Max()).
		WithDetail("max_decompress_bytes", b.decompress.Max())
}

// durable is WriteBatch's wait for the first end bytes of p's log (end -1:
// all it holds) to be durable.
func (b *Broker) durable(t *topic, p *partition, end int64, start time.Time) func() error {
	return func() error {
		var err error
		if end < 0 {
			err = p.log.Sync()
		} else {
			err = p.log.Durable(end)
		}
		if err != nil {
			return b.logError(err, t, p.id)
		}
		b.latency.publishFor(t.cfg.Fsync).since(start)
		return nil
	}
}

// StoredBatches is what ReadBatches read from one partition.
type StoredBatches struct {
	// Batches are the dst given to ReadBatches followed by whole stored
	// batches back to back, from the one holding the offset asked for; the
	// reader skips the records before it.
	Batches        []byte
	EarliestOffset int64
	HighWatermark  int64
}

// ReadBatches reads stored batches of one partition from the batch holding
// offset on, at most maxBytes of them but at least one if any exists,
// without decoding them, appended to dst (a buffer the caller reuses).
// Errors: TOPIC_NOT_FOUND, PARTITION_NOT_FOUND, OFFSET_OUT_OF_RANGE.
func (b *Broker) ReadBatches(topicName string, partition int32, offset int64, maxBytes int, dst []byte) (StoredBatches, error) {
	t, p, err := b.lookupPartition(topicName, partition)
	if err != nil {
		return StoredBatches{}, err
	}
	// The high watermark is read first: ReadBatches never returns anything
	// past its own, which is at least this one.
	res := StoredBatches{HighWatermark: p.log.HighWatermark()}
	res.Batches, err = p.log.ReadBatches(offset, maxBytes, dst)
	if err != nil {
		return StoredBatches{}, b.logError(err, t, p.id)
	}
	if len(res.Batches) == len(dst) && offset < res.HighWatermark {
		// Only skipped offsets (voided batches, damage) lie between
		// offset and the high watermark: the consumer is told to step
		// over them, or it would ask for offset again until a batch
		// is written after them.
		if to, ok := p.log.Skipped(offset); ok && to > offset && to-offset <= math.MaxInt32 {
			res.Batches = recordbatch.AppendEmpty(res.Batches, offset, int32(to-offset), b.now().UnixMilli())
		}
	}
	res.EarliestOffset = p.log.EarliestOffset()
	if n := len(res.Batches) - len(dst); n > 0 {
		p.traffic.countFetched(0, n)
	}
	return res, nil
}

// ReadSize is at least what ReadBatches(topic, partition, offset, maxBytes)
// reads unless its first batch alone is larger, and 0 for a partition or
// offset that does not exist: a reader sizes its buffer with it.
func (b *Broker) ReadSize(topicName string, partition int32, offset int64, maxBytes int) int {
	_, p, err := b.lookupPartition(topicName, partition)
	if err != nil {
		return 0
	}
	return p.log.ReadSize(offset, maxBytes)
}

// OffsetForTime returns the first offset of a partition whose timestamp is
// at least ts (ms since the Unix epoch), or the high watermark if none is,
// with that record's timestamp (-1 if none). Errors: TOPIC_NOT_FOUND,
// PARTITION_NOT_FOUND.
func (b *Broker) OffsetForTime(topicName string, partition int32, ts int64) (int64, int64, error) {
	t, p, err := b.lookupPartition(topicName, partition)
	if err != nil {
		return 0, 0, err
	}
	off, err := p.log.OffsetForTimestamp(ts)
	if err != nil {
		return 0, 0, b.logError(err, t, p.id)
	}
	recs, err := p.log.Read(off, 1, 1)
	if err != nil || len(recs) == 0 {
		return off, -1, nil
	}
	for _, r := range recs {
		if r.Offset == off {
			return off, r.Timestamp, nil
		}
	}
	return off, -1, nil
}

// PartitionBounds returns a partition's earliest offset and high watermark
// without describing the whole topic. Errors: TOPIC_NOT_FOUND,
// PARTITION_NOT_FOUND.
func (b *Broker) PartitionBounds(topicName string, partition int32) (earliest, hwm int64, err error) {
	_, p, err := b.lookupPartition(topicName, partition)
	if err != nil {
		return 0, 0, err
	}
	st := p.log.Stats()
	return st.EarliestOffset, st.HighWatermark, nil
}
