package api

import (
	"encoding/binary"
	"errors"
)

// BatchesContentType marks the binary publish body of POST
// /topics/{topic}/batches, the Go client's fast path. The body is a sequence
// of frames, each
//
//	partition int32 (big endian) | length int32 (big endian) | length bytes of one Kafka RecordBatch v2
//
// The broker checks every frame (framing, CRC-32C, record count) before it
// writes any, assigns offsets, and answers a PublishResponse with one
// PublishResult per frame, in order, whose Offset is the frame's first offset.
//
// Idempotent batches: a batch whose header carries a producer ID (from POST
// /producers), epoch and base sequence is checked against the producer's
// sequences on its partition, as Kafka checks an idempotent producer's: a
// batch sent again (same sequences) is answered with the offset it got the
// first time and not written twice; a batch that would leave a gap is
// refused whole with OUT_OF_ORDER_SEQUENCE, one from an older epoch with
// INVALID_PRODUCER_EPOCH. A producer keeps at most MaxInFlightPerPartition
// requests in flight per partition: the broker remembers that many batches.
// A batch with producer ID -1 is not checked.
const BatchesContentType = "application/x-goqueue-batches"

// MaxInFlightPerPartition is how many requests of one idempotent producer
// may be unanswered on one partition: the broker recognises a retry of any
// of the last this many batches of a producer on a partition.
const MaxInFlightPerPartition = 5

// ProducerIDResponse answers POST /producers: an ID for idempotent batches,
// whose sequences start at 0 in Epoch on every partition. A broker that
// does not know the route (404) takes no idempotent batches: a client then
// sends its batches without an ID, one request per partition at a time.
type ProducerIDResponse struct {
	ProducerID int64 `json:"producer_id"`
	Epoch      int16 `json:"producer_epoch"`
}

// frameHeaderLen is the size of a frame's partition and length fields.
const frameHeaderLen = 8

// ErrBadFrame reports a batches body that is not a sequence of whole frames.
var ErrBadFrame = errors.New("api: malformed batch frame")

// Frame is one partition's RecordBatch in a batches body.
type Frame struct {
	Partition int32
	Batch     []byte // aliases the body it was split from
}

// AppendFrame appends one frame to dst.
func AppendFrame(dst []byte, partition int32, batch []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(partition))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(batch)))
	return append(dst, batch...)
}

// SplitFrames splits a batches body into its frames without copying. It
// checks only the framing; the RecordBatch bytes are the broker's to check.
func SplitFrames(body []byte) ([]Frame, error) {
	var frames []Frame
	for len(body) > 0 {
		if len(body) < frameHeaderLen {
			return nil, ErrBadFrame
		}
		p := int32(binary.BigEndian.Uint32(body))
		n := binary.BigEndian.Uint32(body[4:])
		body = body[frameHeaderLen:]
		if uint64(n) > uint64(len(body)) || n == 0 {
			return nil, ErrBadFrame
		}
		frames = append(frames, Frame{Partition: p, Batch: body[:n:n]})
		body = body[n:]
	}
	return frames, nil
}
