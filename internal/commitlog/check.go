package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// CheckBatch validates one encoded Kafka RecordBatch v2 exactly as
// AppendBatch will (framing, CRC-32C, a known codec, non-control data,
// well-formed records) without writing it, and returns its record count.
// Errors wrap ErrCorrupt or ErrUnsupported.
func CheckBatch(b []byte) (records int32, err error) {
	info, err := checkBatch(b)
	return info.records, err
}

// BatchRecord is what a caller may want to check of one record of an
// encoded batch against its own rules before appending it.
type BatchRecord struct {
	Timestamp  int64 // the batch's first timestamp plus the record's delta
	Attributes int8
	Size       int // bytes of key, value, header keys and header values
}

// Checked is one encoded batch on its way to AppendChecked, checked in
// two steps that read its bytes once: CheckFrame (framing, CRC-32C, a
// codec and kind the log stores), then CheckRecords (every record, with
// the caller's own rules in the same pass). A caller with several batches
// to append all or none of checks them all before appending any. The
// batch's bytes are the caller's and must not change until it is
// appended; AppendChecked writes the base offset into them, and
// SetMaxTimestamp a false claim's correction.
type Checked struct {
	b       []byte
	h       recordbatch.Header
	info    batchInfo
	records bool  // CheckRecords passed
	minTS   int64 // the smallest record timestamp, once CheckRecords passed
}

// CheckFrame checks that b is exactly one batch with magic 2, a matching
// CRC-32C, a known codec and no control bit. It does not look at the
// records. Errors wrap ErrCorrupt or ErrUnsupported.
func CheckFrame(b []byte) (Checked, error) {
	h, err := checkFrame(b)
	if err != nil {
		return Checked{}, err
	}
	if h.Compression() > recordbatch.Zstd || h.Control() {
		return Checked{}, fmt.Errorf("%w: attributes %#04x", ErrUnsupported, uint16(h.Attributes))
	}
	return Checked{b: b, h: h}, nil
}

// Attributes returns the batch-level attributes: compression, timestamp
// type, transactional and control bits.
func (c *Checked) Attributes() uint16 { return uint16(c.h.Attributes) }

// NumRecords is the record count the header gives (the records agree once
// CheckRecords passed).
func (c *Checked) NumRecords() int32 { return c.h.NumRecords }

// Len is the batch's size in bytes.
func (c *Checked) Len() int { return len(c.b) }

// Decompression bounds what checking one compressed batch's records may
// hold. The zero value is the log's own bound and no budget.
type Decompression struct {
	// Limit is the most record data the batch may decompress to; 0, or
	// more than MaxDecompressed, is MaxDecompressed.
	Limit int
	// Budget is charged as the decompressed data grows (never the size
	// it claims) and given back when the check ends; nil: none.
	Budget recordbatch.Budget
}

// CheckRecords checks the records as recordbatch.CheckRecords does,
// calling fn (if not nil) with each in order, and returns the first
// problem: an ErrCorrupt error, or fn's error as is. For an uncompressed
// batch it allocates nothing. Compressed records are decompressed within
// d: data past d's limit is ErrCorrupt that is also
// recordbatch.ErrTooLarge; a refusal of d's budget is
// recordbatch.ErrBusy, which is not ErrCorrupt (the batch may pass
// later).
func (c *Checked) CheckRecords(d Decompression, fn func(i int, r BatchRecord) error) error {
	var (
		each  func(i int32, v recordbatch.View) error
		fnErr error // fn's, returned as is
	)
	if fn != nil {
		first := c.h.FirstTimestamp
		each = func(i int32, v recordbatch.View) error {
			size := len(v.Key) + len(v.Value)
			for hs := v.Headers(); ; {
				k, val, ok := hs.Next()
				if !ok {
					break
				}
				size += len(k) + len(val)
			}
			fnErr = fn(int(i), BatchRecord{Timestamp: first + v.TimestampDelta, Attributes: v.Attributes, Size: size})
			return fnErr
		}
	}
	limit := d.Limit
	if limit <= 0 || limit > MaxDecompressed {
		limit = MaxDecompressed
	}
	v, err := recordbatch.CheckRecordsFunc(c.b, c.h, limit, d.Budget, each)
	if fnErr != nil {
		return fnErr
	}
	if errors.Is(err, recordbatch.ErrTooLarge) {
		return fmt.Errorf("%w: compressed records past %d bytes: %w", ErrCorrupt, limit, err)
	}
	if err != nil {
		return batchError(err)
	}
	c.info = batchInfo{base: c.h.BaseOffset, records: c.h.NumRecords, size: len(c.b), firstTS: c.h.FirstTimestamp, maxTS: v.MaxTimestampSeen}
	c.records, c.minTS = true, v.MinTimestampSeen
	return nil
}

// SetMaxTimestamp writes into the batch's header the largest record
// timestamp CheckRecords found, when the producer claimed another, and
// the CRC-32C over it, as Kafka's broker does: a segment's index (built
// from the records) is checked against the headers at each start, and a
// false claim failed that check, the segment then scanned again at every
// start; readers of the header see the claim too. A claim that holds
// changes nothing. Call it after CheckRecords passed, before appending.
func (c *Checked) SetMaxTimestamp() {
	if !c.records || c.h.MaxTimestamp == c.info.maxTS {
		return
	}
	binary.BigEndian.PutUint64(c.b[recordbatch.OffMaxTimestamp:], uint64(c.info.maxTS))
	recordbatch.SetCRC(c.b)
	c.h.MaxTimestamp = c.info.maxTS
}

// LogAppendTime reports that the batch's header claims the broker's
// timestamps.
func (c *Checked) LogAppendTime() bool { return c.h.LogAppendTime() }

// Timestamps are the smallest (but -1, "no timestamp") and largest
// record timestamps of a batch CheckRecords accepted (see
// recordbatch.Valid).
func (c *Checked) Timestamps() (least, most int64) { return c.minTS, c.info.maxTS }
