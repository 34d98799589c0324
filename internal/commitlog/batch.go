package commitlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Layout of a Kafka RecordBatch v2 header. Every field is big-endian; the
// CRC-32C covers everything from the attributes to the end of the batch, so
// the base offset, length and partition leader epoch can be rewritten without
// touching it.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offRecordCount     = 57
	batchHeaderLen     = 61

	// lengthFieldEnd is where the bytes counted by the length field begin.
	lengthFieldEnd = offLength + 4
	magicV2        = 2

	attrCompressionMask = 0x07
	attrControl         = 0x20
)

// castagnoli is the CRC-32C table Kafka uses; immutable.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchInfo is what the log needs to know about one valid batch.
type batchInfo struct {
	base    int64 // base offset as stored
	records int32 // record count; the batch holds [base, base+records)
	size    int   // whole batch in bytes, header included
	firstTS int64 // batch first timestamp; record timestamps are deltas from it
	maxTS   int64 // largest record timestamp, computed from the records
}

// next is the offset after the batch's last record.
func (b batchInfo) next() int64 { return b.base + int64(b.records) }

// corruptf wraps ErrCorrupt with what was wrong.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// batchLen reads the total size of the batch starting at b from its length
// field. It needs at least 12 bytes and reports false if the length cannot be
// a valid batch.
func batchLen(b []byte) (int, bool) {
	if len(b) < lengthFieldEnd {
		return 0, false
	}
	n := int64(int32(binary.BigEndian.Uint32(b[offLength:])))
	if n < batchHeaderLen-lengthFieldEnd || n > math.MaxInt32-lengthFieldEnd {
		return 0, false
	}
	return int(n) + lengthFieldEnd, true
}

// checkFrame checks that b is exactly one batch by its length field, with
// magic 2 and a matching CRC-32C. It does not look at the records.
func checkFrame(b []byte) error {
	n, ok := batchLen(b)
	if !ok {
		return corruptf("bad batch length")
	}
	if n != len(b) || n < batchHeaderLen {
		return corruptf("batch length %d, have %d bytes", n, len(b))
	}
	if b[offMagic] != magicV2 {
		return corruptf("magic %d", b[offMagic])
	}
	if want, got := binary.BigEndian.Uint32(b[offCRC:]), crc32.Checksum(b[offAttributes:], castagnoli); want != got {
		return corruptf("crc %08x, computed %08x", want, got)
	}
	return nil
}

// checkBatch validates one whole encoded batch b (exactly one batch, no
// trailing bytes): framing, magic, CRC-32C, a known codec, non-control data,
// a record count that matches both LastOffsetDelta and the records actually
// present, offset deltas 0..n-1 and well-formed records. Compressed batches
// (gzip, snappy, lz4, zstd) are decompressed to check their records; an
// uncompressed one costs no allocation.
func checkBatch(b []byte) (batchInfo, error) {
	if err := checkFrame(b); err != nil {
		return batchInfo{}, err
	}
	n := len(b)
	attrs := binary.BigEndian.Uint16(b[offAttributes:])
	if attrs&attrCompressionMask > 4 || attrs&attrControl != 0 {
		return batchInfo{}, fmt.Errorf("%w: attributes %#04x", ErrUnsupported, attrs)
	}
	info := batchInfo{
		base:    int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		records: int32(binary.BigEndian.Uint32(b[offRecordCount:])),
		size:    n,
		firstTS: int64(binary.BigEndian.Uint64(b[offFirstTimestamp:])),
	}
	lastDelta := int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
	if info.records < 1 || lastDelta != info.records-1 {
		return batchInfo{}, corruptf("record count %d, last offset delta %d", info.records, lastDelta)
	}
	if info.base < 0 || info.base > math.MaxInt64-int64(info.records) {
		return batchInfo{}, corruptf("base offset %d", info.base)
	}
	buf := getScratch()
	defer putScratch(buf)
	p, err := recordDataInto(*buf, b)
	if err != nil {
		return batchInfo{}, err
	}
	if attrs&attrCompressionMask != 0 {
		*buf = p[:0] // keep the space, grown if it had to be
	}
	maxDelta := int64(math.MinInt64)
	for i := int32(0); i < info.records; i++ {
		var v recordView
		var err error
		v, p, err = nextRecord(p)
		if err != nil {
			return batchInfo{}, fmt.Errorf("record %d: %w", i, err)
		}
		if v.offsetDelta != i {
			return batchInfo{}, corruptf("record %d has offset delta %d", i, v.offsetDelta)
		}
		maxDelta = max(maxDelta, v.timestampDelta)
	}
	if len(p) != 0 {
		return batchInfo{}, corruptf("%d bytes after the last record", len(p))
	}
	info.maxTS = info.firstTS + maxDelta
	return info, nil
}

// setBaseOffset rewrites the base offset of the batch b in place. The base
// offset is outside the CRC'd region, so the CRC stays valid.
func setBaseOffset(b []byte, base int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(base))
}

// encoder turns Records into RecordBatch v2 bytes with kmsg. Its scratch
// space is reused between calls; one goroutine uses it at a time.
type encoder struct {
	buf     []byte
	headers []kmsg.Header
}

// encode appends recs as one batch with the given base offset and returns the
// batch bytes (valid until the next encode) and its description. Every
// recs[i].Timestamp must already be set.
func (e *encoder) encode(base int64, recs []Record) ([]byte, batchInfo) {
	first := recs[0].Timestamp
	maxTS := first
	buf := e.buf[:0]
	buf = append(buf, make([]byte, batchHeaderLen)...)
	for i := range recs {
		r := &recs[i]
		maxTS = max(maxTS, r.Timestamp)
		e.headers = e.headers[:0]
		for _, h := range r.Headers {
			e.headers = append(e.headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		kr := kmsg.Record{
			Attributes:       r.Attributes,
			TimestampDelta64: r.Timestamp - first,
			OffsetDelta:      int32(i),
			Key:              r.Key,
			Value:            r.Value,
			Headers:          e.headers,
		}
		kr.Length = int32(recordBodyLen(&kr))
		buf = kr.AppendTo(buf)
	}
	hdr := kmsg.RecordBatch{
		FirstOffset:          base,
		Length:               int32(len(buf) - lengthFieldEnd),
		PartitionLeaderEpoch: -1,
		Magic:                magicV2,
		LastOffsetDelta:      int32(len(recs) - 1),
		FirstTimestamp:       first,
		MaxTimestamp:         maxTS,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(recs)),
	}
	hdr.AppendTo(buf[:0]) // Records is empty: writes exactly the 61 header bytes in place
	binary.BigEndian.PutUint32(buf[offCRC:], crc32.Checksum(buf[offAttributes:], castagnoli))
	e.buf = buf
	return buf, batchInfo{base: base, records: int32(len(recs)), size: len(buf), firstTS: first, maxTS: maxTS}
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

// bytesLen is the encoded size of a varint-length-prefixed nullable byte slice.
func bytesLen(b []byte) int {
	if b == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(b))) + len(b)
}

// varintLen is the size of x as a zig-zag varint, the encoding Kafka and
// encoding/binary.PutVarint share.
func varintLen(x int64) int {
	ux := uint64(x)<<1 ^ uint64(x>>63)
	n := 1
	for ux >= 0x80 {
		ux >>= 7
		n++
	}
	return n
}
