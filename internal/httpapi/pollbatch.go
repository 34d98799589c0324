package httpapi

import (
	"encoding/binary"
	"hash/crc32"
	"net/http"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// maxFrameRecords bounds the records of one frame of a binary poll answer,
// so that an answer is written in pieces of about pollChunk.
const maxFrameRecords = 512

// writePollBatches answers got in the binary form of
// api.PollBatchesContentType: one frame per run of consecutive offsets of
// one partition with one delivery count (at most maxFrameRecords each).
func writePollBatches(w http.ResponseWriter, got []broker.Delivered) {
	w.Header().Set("Content-Type", api.PollBatchesContentType)
	w.WriteHeader(http.StatusOK)
	buf := make([]byte, 0, answerSize(got))
	for i := 0; i < len(got); {
		j := i + 1
		for j < len(got) && j-i < maxFrameRecords && sameRun(&got[j-1], &got[j]) {
			j++
		}
		buf = appendPollFrame(buf, got[i:j])
		if len(buf) >= pollChunk {
			w.Write(buf) // a failed write is the client gone; nothing to answer
			buf = buf[:0]
		}
		i = j
	}
	if len(buf) > 0 {
		w.Write(buf)
	}
}

// sameRun reports whether b directly follows a in one frame.
func sameRun(a, b *broker.Delivered) bool {
	return a.Topic == b.Topic && a.Partition == b.Partition &&
		a.DeliveryCount == b.DeliveryCount && b.Record.Offset == a.Record.Offset+1
}

// appendPollFrame appends the frame of run: partition, delivery count,
// topic and the RecordBatch of run's records.
func appendPollFrame(dst []byte, run []broker.Delivered) []byte {
	d := &run[0]
	dst = binary.BigEndian.AppendUint32(dst, uint32(d.Partition))
	dst = binary.BigEndian.AppendUint32(dst, uint32(d.DeliveryCount))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(d.Topic))) // topic names are short
	dst = append(dst, d.Topic...)
	at := len(dst)
	dst = append(dst, 0, 0, 0, 0) // batch_len, set below
	dst = appendRecordBatch(dst, run)
	binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
	return dst
}

// RecordBatch v2 layout: the byte positions of the fields set after the
// records are appended.
const (
	batchLengthAt = 8  // int32: bytes after this field
	batchCRCAt    = 17 // uint32: CRC-32C of everything after this field
)

// appendRecordBatch appends run's records, whose offsets are consecutive,
// as one uncompressed Kafka RecordBatch v2.
func appendRecordBatch(dst []byte, run []broker.Delivered) []byte {
	start := len(dst)
	first := run[0].Record.Timestamp
	maxTS := first
	for i := range run {
		maxTS = max(maxTS, run[i].Record.Timestamp)
	}
	be := binary.BigEndian
	dst = be.AppendUint64(dst, uint64(run[0].Record.Offset)) // FirstOffset
	dst = be.AppendUint32(dst, 0)                            // Length, set below
	dst = be.AppendUint32(dst, 0xffffffff)                   // PartitionLeaderEpoch: unknown
	dst = append(dst, 2)                                     // Magic
	dst = be.AppendUint32(dst, 0)                            // CRC, set below
	dst = be.AppendUint16(dst, 0)                            // Attributes: no compression, create time
	dst = be.AppendUint32(dst, uint32(len(run)-1))           // LastOffsetDelta
	dst = be.AppendUint64(dst, uint64(first))                // FirstTimestamp
	dst = be.AppendUint64(dst, uint64(maxTS))                // MaxTimestamp
	dst = be.AppendUint64(dst, 0xffffffffffffffff)           // ProducerID: none
	dst = be.AppendUint16(dst, 0xffff)                       // ProducerEpoch: none
	dst = be.AppendUint32(dst, 0xffffffff)                   // FirstSequence: none
	dst = be.AppendUint32(dst, uint32(len(run)))             // NumRecords
	for i := range run {
		dst = appendRecord(dst, &run[i].Record, int64(i), first)
	}
	be.PutUint32(dst[start+batchLengthAt:], uint32(len(dst)-start-batchLengthAt-4))
	crc := crc32.Checksum(dst[start+batchCRCAt+4:], crc32.MakeTable(crc32.Castagnoli)) // MakeTable caches Castagnoli
	be.PutUint32(dst[start+batchCRCAt:], crc)
	return dst
}

// appendRecord appends one record of a RecordBatch v2: its length, then
// attributes, timestamp and offset deltas, key, value and headers, with
// zig-zag varints as Kafka has them (a nil key or value has length -1).
func appendRecord(dst []byte, r *commitlog.Record, offsetDelta, firstTS int64) []byte {
	n := 1 + varintLen(r.Timestamp-firstTS) + varintLen(offsetDelta) +
		bytesLen(r.Key) + bytesLen(r.Value) + varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += varintLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	dst = binary.AppendVarint(dst, int64(n))
	dst = append(dst, byte(r.Attributes))
	dst = binary.AppendVarint(dst, r.Timestamp-firstTS)
	dst = binary.AppendVarint(dst, offsetDelta)
	dst = appendBytes(dst, r.Key)
	dst = appendBytes(dst, r.Value)
	dst = binary.AppendVarint(dst, int64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = binary.AppendVarint(dst, int64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendBytes(dst, h.Value)
	}
	return dst
}

func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

func bytesLen(b []byte) int {
	if b == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(b))) + len(b)
}

// varintLen is the size of x as a zig-zag varint.
func varintLen(x int64) int {
	u := uint64(x<<1) ^ uint64(x>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}
