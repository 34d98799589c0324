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
const BatchesContentType = "application/x-goqueue-batches"

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
