package broker

import (
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// PublishBatches appends pre-encoded record batches, the Go client's fast
// path: each frame is one Kafka RecordBatch v2 for one partition, appended
// as is (the broker only assigns its offsets). It returns, per frame in
// order, the partition and the offset of the frame's first record.
//
// Every frame is checked (partition, framing, CRC, and each record by the
// rules Publish applies: size, timestamp, attributes) before any is
// written; the error's details carry the index of the first bad frame. As
// with Publish, appends to different partitions are not atomic together.
//
// Batches that carry a producer ID are checked against the producer's
// sequences (producers.go) before anything is written: a duplicate is
// answered with its first offset, a gap or an old epoch refuses the
// request whole.
func (b *Broker) PublishBatches(topicName string, frames []Frame) ([]Position, error) {
	start := time.Now()
	t, err := b.lookup(topicName)
	if err != nil {
		return nil, err
	}
	defer b.latency.publishFor(t.cfg.Fsync).since(start)
	if len(frames) == 0 {
		return nil, api.ErrInvalidArgument.Withf("no batches to publish")
	}
	if err := b.writable(); err != nil {
		return nil, err
	}
	bounds := b.timeBounds(b.now())
	checked := make([]commitlog.Checked, len(frames))
	for i, f := range frames {
		if checked[i], err = t.checkFrame(i, f, bounds); err != nil {
			return nil, err
		}
	}
	adm, err := b.admit(t, frames)
	if err != nil {
		return nil, err
	}
	defer adm.release()
	pos := make([]Position, len(frames))
	if b.replicated(t) {
		if err := b.publishFramesReplicated(t, frames, checked, pos, adm); err != nil {
			return nil, err
		}
		return pos, nil
	}
	now := time.Now()
	var written []int32
	for i, f := range frames {
		if base, ok := adm.duplicate(i); ok {
			pos[i] = Position{Partition: f.Partition, Offset: base}
			continue
		}
		p := t.parts[f.Partition]
		base, err := p.log.AppendChecked(&checked[i]) // checked once, written as sent (its MaxTimestamp true)
		if err != nil {
			return nil, partlyWritten(b.logError(err, t, p.id), t, written)
		}
		// An idempotent frame sent again is answered from its producer's
		// sequences, not stored twice: only the others make a retry unsafe.
		if h, _ := recordbatch.ParseHeader(f.Batch); h.ProducerID < 0 && !slices.Contains(written, f.Partition) {
			written = append(written, f.Partition)
		}
		adm.written(i, base, now)
		p.dirty.Store(true)
		p.traffic.countPublished(int(checked[i].NumRecords()), len(f.Batch))
		pos[i] = Position{Partition: f.Partition, Offset: base}
	}
	return pos, nil
}
