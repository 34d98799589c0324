package client

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// Layout of a frame of a stored-batches answer (api.PollStoredContentType)
// before its ranges: partition int32 | topic_len uint16 | topic |
// range_count uint32; each range is first int64 | last int64 |
// delivery_count int32.
const (
	storedFixedLen = 4 + 2
	storedRangeLen = 8 + 8 + 4
	// maxRecordData bounds what one compressed batch of an answer may
	// decompress to: an answer is untrusted bytes.
	maxRecordData = 64 << 20
)

// storedRange is a run of offsets the member holds, as the answer says.
type storedRange struct {
	first, last   int64
	deliveryCount int
}

// decodePollStored decodes a stored-batches answer into the messages of
// its ranges, in order per partition. Every batch's CRC is checked; a
// record outside the ranges is skipped, and an offset of a range that no
// batch holds, or offsets that are not ascending, make the answer
// malformed (errPollBatches). Keys, values and header values alias body
// (or a compressed batch's decompressed data).
func decodePollStored(body []byte) ([]*Message, error) {
	return decodeStored(body, true)
}

// decodeStored is decodePollStored; skip false walks every record of every
// batch (the reference the fuzz test holds the skipping walk to).
func decodeStored(body []byte, skip bool) ([]*Message, error) {
	_, capacity, err := storedCount(body)
	if err != nil {
		return nil, err
	}
	msgs := make([]Message, 0, capacity)
	var (
		topic  string        // the previous frame's, reused while frames repeat it
		ranges []storedRange // the frame's; its memory reused by the next
	)
	for len(body) > 0 {
		var (
			partition int32
			t         []byte
		)
		partition, t, ranges, body, err = storedHead(body, ranges[:0])
		if err != nil {
			return nil, err
		}
		if topic != string(t) { // compiles to a comparison, no allocation
			topic = string(t)
		}
		w := rangeWalk{ranges: ranges, topic: topic, partition: partition, skip: skip}
		if body, msgs, err = w.batches(body, msgs); err != nil {
			return nil, err
		}
	}
	out := make([]*Message, len(msgs))
	for i := range msgs {
		out[i] = &msgs[i]
	}
	return out, nil
}

// storedCount checks the frames of an answer body as far as it can without
// reading their batches, and returns how many messages its ranges name
// (the messages of a well-formed answer) and how many to reserve for them:
// per frame, what its ranges claim, bounded by what its batches can hold.
// The messages of every frame go into one slice: reserved for the first
// frame only, it grew at each later one, copying every message so far (a
// quarter of the client's CPU in a consume of six partitions).
func storedCount(body []byte) (n, capacity int, err error) {
	var ranges []storedRange
	for len(body) > 0 {
		if _, _, ranges, body, err = storedHead(body, ranges[:0]); err != nil {
			return 0, 0, err
		}
		var batches int
		if batches, body, err = skipBatches(body); err != nil {
			return 0, 0, err
		}
		capacity += storedCapacity(ranges, batches)
		for _, r := range ranges {
			n += int(r.last - r.first + 1)
		}
	}
	return n, capacity, nil
}

// skipBatches skips a frame's batch count and batches at the start of b,
// returning how many bytes they take and what follows them.
func skipBatches(b []byte) (int, []byte, error) {
	if len(b) < 4 {
		return 0, nil, fmt.Errorf("%w: batch count of %d bytes", errPollBatches, len(b))
	}
	n := binary.BigEndian.Uint32(b)
	size := 4
	for range n {
		if len(b) < size+4 {
			return 0, nil, fmt.Errorf("%w: batch length of %d bytes", errPollBatches, len(b)-size)
		}
		bl := int64(int32(binary.BigEndian.Uint32(b[size:])))
		size += 4
		if bl < recordbatch.HeaderLen || bl > int64(len(b)-size) {
			return 0, nil, fmt.Errorf("%w: batch of %d bytes in %d", errPollBatches, bl, len(b)-size)
		}
		size += int(bl)
	}
	return size, b[size:], nil
}

// storedCapacity is how many messages to reserve for a frame of ranges
// whose batches take size bytes: what the ranges claim, bounded by what
// the batches can hold.
func storedCapacity(ranges []storedRange, size int) int {
	n, most := 0, size/recordbatch.MinRecordLen
	for _, r := range ranges {
		if n += int(min(r.last-r.first+1, int64(most))); n >= most {
			return most
		}
	}
	return n
}

// storedHead splits a frame's partition, topic and ranges off b, the
// ranges appended to dst; they must be ascending, disjoint and each
// first ≤ last.
func storedHead(b []byte, dst []storedRange) (int32, []byte, []storedRange, []byte, error) {
	be := binary.BigEndian
	if len(b) < storedFixedLen {
		return 0, nil, nil, nil, fmt.Errorf("%w: frame header of %d bytes", errPollBatches, len(b))
	}
	partition := int32(be.Uint32(b))
	tl := int(be.Uint16(b[4:]))
	b = b[storedFixedLen:]
	if len(b) < tl+4 {
		return 0, nil, nil, nil, fmt.Errorf("%w: topic of %d bytes in %d", errPollBatches, tl, len(b))
	}
	topic := b[:tl]
	n := int64(be.Uint32(b[tl:]))
	b = b[tl+4:]
	if n*storedRangeLen > int64(len(b)) {
		return 0, nil, nil, nil, fmt.Errorf("%w: %d ranges in %d bytes", errPollBatches, n, len(b))
	}
	ranges := slices.Grow(dst[:0], int(n))[:n]
	for i := range ranges {
		r := &ranges[i]
		r.first, r.last = int64(be.Uint64(b)), int64(be.Uint64(b[8:]))
		r.deliveryCount = int(int32(be.Uint32(b[16:])))
		b = b[storedRangeLen:]
		if r.first < 0 || r.last < r.first || i > 0 && r.first <= ranges[i-1].last {
			return 0, nil, nil, nil, fmt.Errorf("%w: range %d..%d", errPollBatches, r.first, r.last)
		}
	}
	return partition, topic, ranges, b, nil
}

// rangeWalk hands out the records of one frame's batches that its ranges
// hold. want is the next offset a range holds; ranges[ri:] are left.
type rangeWalk struct {
	ranges    []storedRange
	topic     string
	partition int32
	ri        int
	want      int64
	last      int64 // the offset of the record seen last; -1: none
	skip      bool  // pass over what the ranges do not hold without decoding it
}

// batches reads the frame's batch count and batches from b and appends
// their messages to msgs; it returns what follows the frame.
func (w *rangeWalk) batches(b []byte, msgs []Message) ([]byte, []Message, error) {
	if len(b) < 4 {
		return nil, msgs, fmt.Errorf("%w: batch count of %d bytes", errPollBatches, len(b))
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	if len(w.ranges) > 0 {
		w.want = w.ranges[0].first
	}
	w.last = -1
	for range n {
		if len(b) < 4 {
			return nil, msgs, fmt.Errorf("%w: batch length of %d bytes", errPollBatches, len(b))
		}
		bl := int64(int32(binary.BigEndian.Uint32(b)))
		b = b[4:]
		if bl < recordbatch.HeaderLen || bl > int64(len(b)) {
			return nil, msgs, fmt.Errorf("%w: batch of %d bytes in %d", errPollBatches, bl, len(b))
		}
		var err error
		if msgs, err = w.batch(b[:bl:bl], msgs); err != nil {
			return nil, msgs, err
		}
		b = b[bl:]
	}
	if w.ri < len(w.ranges) {
		return nil, msgs, fmt.Errorf("%w: offset %d of a range is in no batch", errPollBatches, w.want)
	}
	return b, msgs, nil
}

// batch checks one batch and appends the messages of its records that the
// ranges hold.
func (w *rangeWalk) batch(batch []byte, msgs []Message) ([]Message, error) {
	h, err := recordbatch.CheckFrame(batch)
	if err != nil {
		return msgs, fmt.Errorf("%w: %v", errPollBatches, err)
	}
	if h.Control() {
		return msgs, nil
	}
	// A batch the ranges do not reach is not decoded at all, and records
	// before the next wanted offset are skipped by their lengths: a stored
	// batch of ~10,000 records is served whole to every poll whose ranges
	// touch it, so a poll of 5,000 walked records of which it kept half.
	end := h.BaseOffset + int64(h.LastOffsetDelta)
	if w.skip && h.BaseOffset > w.last && h.LastOffsetDelta >= 0 && (w.ri == len(w.ranges) || end < w.want) {
		w.last = end
		return msgs, nil
	}
	it, err := recordbatch.NewIter(batch, maxRecordData)
	if err != nil {
		return msgs, fmt.Errorf("%w: %v", errPollBatches, err)
	}
	var v recordbatch.View
	if k := w.want - h.BaseOffset; w.skip && w.ri < len(w.ranges) && k > 0 && h.BaseOffset > w.last {
		w.skipTo(&it, h.BaseOffset, k)
	}
	for it.Next(&v) {
		off := h.BaseOffset + int64(v.OffsetDelta)
		if off <= w.last {
			return msgs, fmt.Errorf("%w: offset %d after %d", errPollBatches, off, w.last)
		}
		w.last = off
		if w.ri == len(w.ranges) || off < w.want {
			continue // outside the ranges: not this member's to process
		}
		if off > w.want {
			return msgs, fmt.Errorf("%w: offset %d of a range is in no batch", errPollBatches, w.want)
		}
		msgs = append(msgs, message(w.topic, w.partition, &h, &v, w.ranges[w.ri].deliveryCount))
		if w.want == w.ranges[w.ri].last {
			if w.ri++; w.ri < len(w.ranges) {
				w.want = w.ranges[w.ri].first
			}
		} else {
			w.want++
		}
	}
	if err := it.Err(); err != nil {
		return msgs, fmt.Errorf("%w: %v", errPollBatches, err)
	}
	return msgs, nil
}

// skipTo skips the k records of it before w.want if offsets run from base
// without gaps (the broker stores batches so): when the record after them
// is the wanted one. Otherwise it leaves it as it was, for the record by
// record walk, which also reports anything malformed.
func (w *rangeWalk) skipTo(it *recordbatch.Iter, base, k int64) {
	saved := *it
	var v recordbatch.View
	if it.Skip(int(k)) {
		peek := *it
		if peek.Next(&v) && base+int64(v.OffsetDelta) == w.want {
			w.last = w.want - 1
			return
		}
	}
	*it = saved
}

// message is the Message of record v of a batch with header h, as fromWire
// gives it from the JSON answer.
func message(topic string, partition int32, h *recordbatch.Header, v *recordbatch.View, deliveryCount int) Message {
	return Message{
		Topic:         topic,
		Partition:     partition,
		Offset:        h.BaseOffset + int64(v.OffsetDelta),
		Key:           v.Key,
		Value:         valueOf(v.Attributes, v.Value),
		Headers:       headersOf(v),
		Timestamp:     time.UnixMilli(h.FirstTimestamp + v.TimestampDelta),
		DeliveryCount: deliveryCount,
	}
}

// acceptPoll is the Accept header of a poll: stored batches, the older
// binary answer, or JSON, as the broker knows them.
const acceptPoll = api.PollStoredContentType + ", " + api.PollBatchesContentType + ", application/json"
