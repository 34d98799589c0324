package recordbatch

import "encoding/binary"

// NewHeader is the header of a batch that no idempotent producer wrote:
// base offset base, an unknown leader epoch, producer ID, epoch and base
// sequence -1, CreateTime timestamps, not transactional. Builder.Finish and
// Build fill in the rest.
func NewHeader(base int64) Header {
	return Header{BaseOffset: base, PartitionLeaderEpoch: -1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
}

// Builder encodes one uncompressed batch record by record, so that
// finishing it costs only its header and CRC. Its zero value is not ready:
// call Reset. Not safe for concurrent use.
type Builder struct {
	buf            []byte // what Reset was given, then the batch
	start          int    // where the batch starts in buf
	n              int32  // records so far
	firstTS, maxTS int64  // ms; firstTS is the first record's
}

// Reset starts a new batch at the end of dst, keeping dst's bytes (a
// caller's framing before the batch) and reusing its capacity.
func (b *Builder) Reset(dst []byte) {
	b.start = len(dst)
	b.buf = append(dst, make([]byte, HeaderLen)...)
	b.n = 0
}

// Add encodes one record with timestamp ts (ms since the epoch; the
// first record's becomes the batch's FirstTimestamp) and offset delta the
// number of records before it. The slices are copied.
func (b *Builder) Add(attrs int8, ts int64, key, value []byte, headers []RecordHeader) {
	if b.n == 0 {
		b.firstTS, b.maxTS = ts, ts
	}
	b.maxTS = max(b.maxTS, ts)
	b.buf = appendRecord(b.buf, attrs, ts-b.firstTS, b.n, key, value, headers)
	b.n++
}

// Len is the size of the batch so far, header included.
func (b *Builder) Len() int { return len(b.buf) - b.start }

// Bytes is the buffer Reset was given followed by the batch so far (its
// header unwritten before Finish): for reusing its storage.
func (b *Builder) Bytes() []byte { return b.buf }

// NumRecords is the number of records added since Reset.
func (b *Builder) NumRecords() int32 { return b.n }

// Finish writes the header, taking h's base offset, leader epoch, producer
// fields and timestamp type/transactional/control attribute bits, and the
// CRC, and returns the buffer Reset was given with the batch appended.
// Add must have been called at least once.
func (b *Builder) Finish(h Header) []byte {
	h.FirstTimestamp, h.MaxTimestamp = b.firstTS, b.maxTS
	putHeader(b.buf[b.start:], h, None, b.n)
	return b.buf
}

// Build appends one batch of recs to dst, with h's base offset, leader
// epoch, timestamps, producer fields and timestamp type/transactional/control
// attribute bits, compressing the records with c. It sets the record count,
// last offset delta, length and CRC itself, and fills recs' offset deltas
// 0..n-1. It fails only if compression does.
func Build(dst []byte, h Header, c Codec, recs []Record) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderLen)...)
	var raw []byte
	for i := range recs {
		recs[i].OffsetDelta = int32(i)
		raw = AppendRecord(raw, &recs[i])
	}
	var err error
	if dst, err = Compress(dst, c, raw); err != nil {
		return nil, err
	}
	putHeader(dst[start:], h, c, int32(len(recs)))
	return dst, nil
}

// AppendEmpty appends to dst a batch of no records that covers offsets
// [base, base+span), stamped ts: what a compacted Kafka log keeps of a
// batch whose records all went (KAFKA-5443), which a consumer steps past
// to base+span. A broker serves one where a fetch would find only offsets
// its log skips (damaged, or voided) before its high watermark: with no
// batch at all, a Kafka consumer asks for the same offset again.
func AppendEmpty(dst []byte, base int64, span int32, ts int64) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderLen)...)
	h := NewHeader(base)
	h.FirstTimestamp, h.MaxTimestamp = ts, ts
	b := dst[start:]
	putHeader(b, h, None, 0)
	binary.BigEndian.PutUint32(b[OffLastOffsetDelta:], uint32(span-1))
	SetCRC(b)
	return dst
}

// putHeader writes the header of the batch b (whose records follow it)
// from h, codec c and n records, and its CRC.
func putHeader(b []byte, h Header, c Codec, n int32) {
	be := binary.BigEndian
	be.PutUint64(b[OffBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(b[OffLength:], uint32(len(b)-LengthFieldEnd))
	be.PutUint32(b[OffLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[OffMagic] = Magic
	be.PutUint16(b[OffAttributes:], uint16(h.Attributes)&^attrCompressionMask|uint16(c))
	be.PutUint32(b[OffLastOffsetDelta:], uint32(n-1))
	be.PutUint64(b[OffFirstTimestamp:], uint64(h.FirstTimestamp))
	be.PutUint64(b[OffMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(b[OffProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[OffProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[OffBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[OffRecordCount:], uint32(n))
	SetCRC(b)
}
