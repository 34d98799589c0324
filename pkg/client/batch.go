package client

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Offsets into a Kafka RecordBatch v2 header; the CRC-32C covers everything
// from the attributes on.
const (
	batchHeaderLen = 61
	batchLenEnd    = 12 // end of the length field; Length counts what follows
	batchCRCAt     = 17
	batchAttrsAt   = 21
)

// castagnoli is Kafka's CRC-32C table; immutable.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchBuilder encodes one partition's records as they arrive, so that
// sealing the batch costs only its header and CRC. Not safe for concurrent
// use; the Producer guards it with its mutex.
type batchBuilder struct {
	buf     []byte // header space, then the encoded records
	n       int32  // records so far
	firstTS int64  // ms; the first record's timestamp
	maxTS   int64
	headers []kmsg.Header // scratch
}

// newBatchBuilder starts a batch in buf (reused storage; nil allocates).
func newBatchBuilder(buf []byte) *batchBuilder {
	if cap(buf) < batchHeaderLen {
		buf = make([]byte, 0, 4096)
	}
	return &batchBuilder{buf: buf[:batchHeaderLen]}
}

// add encodes one record with timestamp ts (ms).
func (b *batchBuilder) add(key, value []byte, headers []Header, ts int64) {
	if b.n == 0 {
		b.firstTS, b.maxTS = ts, ts
	}
	b.maxTS = max(b.maxTS, ts)
	b.headers = b.headers[:0]
	for _, h := range headers {
		b.headers = append(b.headers, kmsg.Header{Key: h.Key, Value: h.Value})
	}
	r := kmsg.Record{
		TimestampDelta64: ts - b.firstTS,
		OffsetDelta:      b.n,
		Key:              key,
		Value:            value,
		Headers:          b.headers,
	}
	r.Length = int32(recordBodyLen(&r))
	b.buf = r.AppendTo(b.buf)
	b.n++
}

// size is the encoded size so far.
func (b *batchBuilder) size() int { return len(b.buf) }

// seal writes the header and CRC and returns the batch; the builder must not
// be used afterwards. The base offset is 0: the broker assigns offsets.
func (b *batchBuilder) seal() []byte {
	hdr := kmsg.RecordBatch{
		Length:               int32(len(b.buf) - batchLenEnd),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      b.n - 1,
		FirstTimestamp:       b.firstTS,
		MaxTimestamp:         b.maxTS,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           b.n,
	}
	hdr.AppendTo(b.buf[:0]) // no Records: writes exactly the header, in place
	binary.BigEndian.PutUint32(b.buf[batchCRCAt:], crc32.Checksum(b.buf[batchAttrsAt:], castagnoli))
	return b.buf
}

// recordBodyLen is the encoded size of r after its length varint.
func recordBodyLen(r *kmsg.Record) int {
	n := 1 + varintLen(r.TimestampDelta64) + varintLen(int64(r.OffsetDelta)) +
		bytesLen(r.Key) + bytesLen(r.Value) + varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += varintLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	return n
}

// bytesLen is the size of a varint-length-prefixed nullable byte slice.
func bytesLen(b []byte) int {
	if b == nil {
		return 1 // varint -1
	}
	return varintLen(int64(len(b))) + len(b)
}

// varintLen is the size of x as a zig-zag varint.
func varintLen(x int64) int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutVarint(tmp[:], x)
}
