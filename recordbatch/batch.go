// Package recordbatch reads and writes Apache Kafka RecordBatch v2, the
// format GoQueue stores on disk and every front end speaks: the header, its
// CRC-32C, compressed record data (gzip, snappy, lz4, zstd) and control
// batches. It owns no state; it only turns bytes into views and back.
//
// A batch is handled as bytes: the broker stores what a producer sent and
// serves what it stored. Decoding is only for validation and for front ends
// that hand out single records; both work on views that alias the batch.
package recordbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// Layout of the 61-byte header. Every field is big-endian. The CRC-32C covers
// everything from the attributes to the end, so the base offset, length and
// partition leader epoch can be rewritten without touching it.
const (
	OffBaseOffset      = 0
	OffLength          = 8
	OffLeaderEpoch     = 12
	OffMagic           = 16
	OffCRC             = 17
	OffAttributes      = 21
	OffLastOffsetDelta = 23
	OffFirstTimestamp  = 27
	OffMaxTimestamp    = 35
	OffProducerID      = 43
	OffProducerEpoch   = 51
	OffBaseSequence    = 53
	OffRecordCount     = 57
	HeaderLen          = 61

	// LengthFieldEnd is where the bytes counted by the length field begin.
	LengthFieldEnd = OffLength + 4
	// Magic is the only batch format version this package reads.
	Magic = 2
)

// Attribute bits.
const (
	attrCompressionMask = 0x07
	attrTimestampType   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
)

// Sentinel errors. Every decoding error wraps ErrCorrupt.
var (
	// ErrCorrupt: the bytes are not a valid batch (framing, magic, CRC,
	// compressed data or records).
	ErrCorrupt = errors.New("recordbatch: corrupt batch")
	// ErrTooLarge: decompressed data would pass the caller's limit.
	ErrTooLarge = errors.New("recordbatch: decompressed batch too large")
	// ErrBusy: the Budget a decompression was given had no room for its
	// output; retry once others have finished. It is not ErrCorrupt.
	ErrBusy = errors.New("recordbatch: decompression budget spent")
)

// castagnoli is the CRC-32C table Kafka uses; immutable.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is the decoded 61-byte batch header.
type Header struct {
	BaseOffset           int64
	Length               int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Compression is the codec of the record data.
func (h *Header) Compression() Codec { return Codec(h.Attributes & attrCompressionMask) }

// Control reports a control batch (transaction markers, never user data).
func (h *Header) Control() bool { return h.Attributes&attrControl != 0 }

// Transactional reports a batch written inside a transaction.
func (h *Header) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// LogAppendTime reports that the batch's timestamps are the broker's.
func (h *Header) LogAppendTime() bool { return h.Attributes&attrTimestampType != 0 }

// NextOffset is the offset after the batch's last record.
func (h *Header) NextOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) + 1 }

// CorruptError says what is wrong with a batch. It is ErrCorrupt to
// errors.Is; a caller with sentinels of its own can say Reason under them.
type CorruptError struct {
	Reason string
	Err    error // the cause (a decompressor's error), or nil
}

func (e *CorruptError) Error() string        { return ErrCorrupt.Error() + ": " + e.Reason }
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
func (e *CorruptError) Unwrap() error        { return e.Err }

// corruptf is a CorruptError saying what was wrong.
func corruptf(format string, args ...any) error {
	return &CorruptError{Reason: fmt.Sprintf(format, args...)}
}

// Len reads the total size of the batch starting at b from its length field.
// It needs at least LengthFieldEnd bytes and reports false if the length
// cannot be that of a batch.
func Len(b []byte) (int, bool) {
	if len(b) < LengthFieldEnd {
		return 0, false
	}
	n := int64(int32(binary.BigEndian.Uint32(b[OffLength:])))
	if n < HeaderLen-LengthFieldEnd || n > math.MaxInt32-LengthFieldEnd {
		return 0, false
	}
	return int(n) + LengthFieldEnd, true
}

// ParseHeader decodes the header of b without any check beyond its size.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, corruptf("%d bytes, a header needs %d", len(b), HeaderLen)
	}
	be := binary.BigEndian
	return Header{
		BaseOffset:           int64(be.Uint64(b[OffBaseOffset:])),
		Length:               int32(be.Uint32(b[OffLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[OffLeaderEpoch:])),
		Magic:                int8(b[OffMagic]),
		CRC:                  be.Uint32(b[OffCRC:]),
		Attributes:           int16(be.Uint16(b[OffAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[OffLastOffsetDelta:])),
		FirstTimestamp:       int64(be.Uint64(b[OffFirstTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[OffMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[OffProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[OffProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[OffBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[OffRecordCount:])),
	}, nil
}

// CheckFrame checks that b is exactly one batch by its length field, with
// magic 2 and a matching CRC-32C, and returns its header. It does not look
// at the records.
func CheckFrame(b []byte) (Header, error) {
	n, ok := Len(b)
	if !ok {
		return Header{}, corruptf("bad batch length")
	}
	if n != len(b) || n < HeaderLen {
		return Header{}, corruptf("batch length %d, have %d bytes", n, len(b))
	}
	if b[OffMagic] != Magic {
		return Header{}, corruptf("magic %d", b[OffMagic])
	}
	if want, got := binary.BigEndian.Uint32(b[OffCRC:]), crc32.Checksum(b[OffAttributes:], castagnoli); want != got {
		return Header{}, corruptf("crc %08x, computed %08x", want, got)
	}
	return ParseHeader(b)
}

// BaseOffset reads the base offset of the batch starting at b, which holds
// at least its header: for passing stored batches through without decoding
// them, as do NumRecords and MaxTimestamp.
func BaseOffset(b []byte) int64 { return int64(binary.BigEndian.Uint64(b[OffBaseOffset:])) }

// NumRecords reads the record count of the batch starting at b.
func NumRecords(b []byte) int32 { return int32(binary.BigEndian.Uint32(b[OffRecordCount:])) }

// MaxTimestamp reads the header's largest timestamp of the batch starting at b.
func MaxTimestamp(b []byte) int64 { return int64(binary.BigEndian.Uint64(b[OffMaxTimestamp:])) }

// SetBaseOffset rewrites the base offset of the batch b in place; the CRC
// stays valid.
func SetBaseOffset(b []byte, base int64) {
	binary.BigEndian.PutUint64(b[OffBaseOffset:], uint64(base))
}

// SetCRC computes and stores the CRC-32C of the batch b.
func SetCRC(b []byte) {
	binary.BigEndian.PutUint32(b[OffCRC:], crc32.Checksum(b[OffAttributes:], castagnoli))
}

// SetControl sets or clears the control bit of the batch b in place and
// reseals its CRC.
func SetControl(b []byte, on bool) {
	a := binary.BigEndian.Uint16(b[OffAttributes:])
	if on {
		a |= attrControl
	} else {
		a &^= attrControl
	}
	binary.BigEndian.PutUint16(b[OffAttributes:], a)
	SetCRC(b)
}

// RecordData returns the batch's record bytes, decompressed if need be
// (at most limit bytes, else ErrTooLarge). For an uncompressed batch it
// aliases b; otherwise it is a new slice. b must be a whole checked batch.
func RecordData(b []byte, limit int) ([]byte, error) {
	data, _, err := recordData(nil, b, limit, nil)
	return data, err
}

// RecordDataInto is RecordData for a reader that bounds what many
// decompressions hold at once: compressed data is decompressed into dst's
// space (from dst[:0], grown if need be) and charged to bud (nil: none) as
// it grows, never the size it claims. charged is what the caller gives
// back to bud once done with data; on any error nothing stays charged, and
// a refusal of bud is ErrBusy. For an uncompressed batch data aliases b
// and nothing is charged.
func RecordDataInto(dst, b []byte, limit int, bud Budget) (data []byte, charged int64, err error) {
	return recordData(dst, b, limit, bud)
}

// recordData is RecordData decompressing into dst's space (from dst[:0])
// and charging bud as decompress does.
func recordData(dst, b []byte, limit int, bud Budget) ([]byte, int64, error) {
	c := Codec(binary.BigEndian.Uint16(b[OffAttributes:]) & attrCompressionMask)
	if c == None {
		return b[HeaderLen:], 0, nil
	}
	return decompress(dst[:0], c, b[HeaderLen:], limit, bud)
}
