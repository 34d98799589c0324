package broker

import (
	"context"
	"errors"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// Where a fetch starts, besides a concrete offset.
const (
	OffsetEarliest int64 = -2 // the first offset still held
	OffsetLatest   int64 = -1 // the high watermark: only what arrives next
)

// FetchRequest says what to read from one partition.
type FetchRequest struct {
	Partition int32
	// Offset is where to start: an offset, OffsetEarliest or OffsetLatest.
	// It is ignored when ByTimestamp is set.
	Offset int64
	// ByTimestamp starts at the first message whose timestamp is at least
	// Timestamp (ms since the Unix epoch).
	ByTimestamp bool
	Timestamp   int64
	MaxMessages int           // > 0
	MaxBytes    int           // > 0; at least one message is returned if any exists
	Wait        time.Duration // long-poll: wait up to this long for a first message
}

// FetchResult is what a fetch read. NextOffset is where the next fetch
// should start.
type FetchResult struct {
	Records        []commitlog.Record
	NextOffset     int64
	EarliestOffset int64
	HighWatermark  int64
}

// Fetch reads messages from one partition. With Wait > 0 and nothing to read
// at the start offset, it waits until a message arrives (and returns at once
// then), Wait passes, or ctx ends; the latter two return no messages and no
// error. Errors: TOPIC_NOT_FOUND, PARTITION_NOT_FOUND, OFFSET_OUT_OF_RANGE
// (details: earliest_offset, high_watermark).
func (b *Broker) Fetch(ctx context.Context, topicName string, req FetchRequest) (FetchResult, error) {
	t, err := b.lookup(topicName)
	if err != nil {
		return FetchResult{}, err
	}
	p, err := t.partition(req.Partition)
	if err != nil {
		return FetchResult{}, err
	}
	start, err := b.startOffset(t, p, req)
	if err != nil {
		return FetchResult{}, err
	}
	recs, err := p.log.Read(start, req.MaxMessages, req.MaxBytes)
	if err != nil {
		return FetchResult{}, b.logError(err, t, p.id)
	}
	if len(recs) == 0 && req.Wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, req.Wait)
		err := p.log.Wait(wctx, start)
		cancel()
		switch {
		case err == nil:
			if recs, err = p.log.Read(start, req.MaxMessages, req.MaxBytes); err != nil {
				return FetchResult{}, b.logError(err, t, p.id)
			}
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			// Nothing arrived in time, or the caller left: an empty answer.
		default:
			return FetchResult{}, b.logError(err, t, p.id)
		}
	}
	// A read may start at the batch holding start; drop what precedes it.
	for len(recs) > 0 && recs[0].Offset < start {
		recs = recs[1:]
	}
	res := FetchResult{
		Records:        recs,
		NextOffset:     start,
		EarliestOffset: p.log.EarliestOffset(),
		HighWatermark:  p.log.HighWatermark(),
	}
	if len(recs) > 0 {
		res.NextOffset = recs[len(recs)-1].Offset + 1
		p.traffic.countFetched(len(recs), recordsSize(recs))
	} else if to, ok := p.log.Skipped(start); ok {
		// Damaged offsets read as absent (see corrupt.go): step past them,
		// or a consumer would ask for them for ever.
		res.NextOffset = to
	}
	return res, nil
}

func (b *Broker) startOffset(t *topic, p *partition, req FetchRequest) (int64, error) {
	switch {
	case req.ByTimestamp:
		off, err := p.log.OffsetForTimestamp(req.Timestamp)
		if err != nil {
			return 0, b.logError(err, t, p.id)
		}
		return off, nil
	case req.Offset == OffsetEarliest:
		return p.log.EarliestOffset(), nil
	case req.Offset == OffsetLatest:
		return p.log.HighWatermark(), nil
	}
	return req.Offset, nil
}

// PartitionChanged returns a channel closed at the next append to the
// partition (or when its topic is deleted or the broker closes), for callers
// that wait on several partitions at once, such as a group poll. Take the
// channel, then read; a message appended in between is not missed.
// Errors: TOPIC_NOT_FOUND, PARTITION_NOT_FOUND.
func (b *Broker) PartitionChanged(topicName string, partition int32) (<-chan struct{}, error) {
	_, p, err := b.lookupPartition(topicName, partition)
	if err != nil {
		return nil, err
	}
	return p.log.Changed(), nil
}
