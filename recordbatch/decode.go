package recordbatch

import (
	"math"
	"sync"
)

// Iter walks the records of one batch in order: exactly the header's
// record count, then nothing. Decoding allocates nothing (the records alias
// the batch or its decompressed data).
type Iter struct {
	data []byte
	left int32
	err  error
}

// NewIter starts an Iter over the records of b, whose frame (at least the
// header) has been checked, decompressing at most limit bytes of record
// data.
func NewIter(b []byte, limit int) (Iter, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return Iter{}, err
	}
	if h.NumRecords < 0 {
		return Iter{}, corruptf("record count %d", h.NumRecords)
	}
	data, err := RecordData(b, limit)
	if err != nil {
		return Iter{}, err
	}
	return Iter{data: data, left: h.NumRecords}, nil
}

// IterOver is an Iter over data, the record data (RecordDataInto) of a
// batch whose header counts n records.
func IterOver(data []byte, n int32) (Iter, error) {
	if n < 0 {
		return Iter{}, corruptf("record count %d", n)
	}
	return Iter{data: data, left: n}, nil
}

// Next decodes the next record into v. It reports false after the last
// record or on an error (see Err).
func (it *Iter) Next(v *View) bool {
	if it.err != nil {
		return false
	}
	if it.left == 0 {
		if len(it.data) != 0 {
			it.err = corruptf("%d bytes after the last record", len(it.data))
		}
		return false
	}
	rest, err := decodeRecord(it.data, v)
	if err != nil {
		it.err = err
		return false
	}
	it.data = rest
	it.left--
	return true
}

// Skip passes over the next n records reading only their lengths: a
// reader that wants a later record saves decoding those before it. The
// skipped records' contents are not checked (the batch's CRC covers their
// bytes). It reports false, having skipped nothing, if fewer than n records
// are left, and false with Err set if a record's length runs past the data.
func (it *Iter) Skip(n int) bool {
	if it.err != nil || n < 0 || n > int(it.left) {
		return false
	}
	for range n {
		l, after, ok := varint(it.data)
		if !ok || l < 1 || l > int64(len(after)) {
			it.err = corruptf("bad record length")
			return false
		}
		it.data = after[l:]
		it.left--
	}
	return true
}

// Err is what stopped Next early, or bytes left after the last record.
func (it *Iter) Err() error { return it.err }

// Valid is what Validate learned of a batch.
type Valid struct {
	Header
	// MaxTimestampSeen is the largest record timestamp, from the records
	// themselves (the header's MaxTimestamp is the producer's claim), each
	// FirstTimestamp plus its delta as a reader adds them (wrapping past
	// int64's ends); MinTimestampSeen the smallest but -1, Kafka's "no
	// timestamp" (-1 if every record has it).
	MaxTimestampSeen, MinTimestampSeen int64
}

// Validate checks one whole batch b (no trailing bytes) the way a broker
// must before storing it: CheckFrame (framing, magic, CRC-32C), then
// CheckRecords. Control batches are checked the same way. For an
// uncompressed batch it allocates nothing.
func Validate(b []byte, limit int) (Valid, error) {
	h, err := CheckFrame(b)
	if err != nil {
		return Valid{}, err
	}
	return CheckRecords(b, h, limit)
}

// CheckRecords is Validate after CheckFrame returned h for b: a known codec
// whose data decompresses to at most limit bytes, a record count that
// matches both LastOffsetDelta and the records present, a base offset with
// room for them, offset deltas 0..n-1 and well-formed records.
func CheckRecords(b []byte, h Header, limit int) (Valid, error) {
	return CheckRecordsFunc(b, h, limit, nil, nil)
}

// CheckRecordsFunc is CheckRecords that also calls fn (if not nil) with
// each record as it is checked, in order, and stops at fn's first error,
// which it returns as is: a caller with rules of its own for records checks
// them in the same pass. fn must not keep v or its slices. Compressed
// data is charged to bud (nil: none) as it grows, never the size it
// claims, and given back before CheckRecordsFunc returns; a refusal of
// bud is ErrBusy.
func CheckRecordsFunc(b []byte, h Header, limit int, bud Budget, fn func(i int32, v View) error) (Valid, error) {
	if h.Compression() > Zstd {
		return Valid{}, corruptf("unknown compression codec %d", h.Compression())
	}
	if h.NumRecords < 1 || h.LastOffsetDelta != h.NumRecords-1 {
		return Valid{}, corruptf("record count %d, last offset delta %d", h.NumRecords, h.LastOffsetDelta)
	}
	if h.BaseOffset < 0 || h.BaseOffset > math.MaxInt64-int64(h.NumRecords) {
		return Valid{}, corruptf("base offset %d", h.BaseOffset)
	}
	// The records are only read here, never kept, so compressed data goes
	// to a pooled buffer: a new one per batch, allocated and zeroed only to
	// be dropped, led the profile of Kafka produce (snappy by default).
	buf := scratchBufs.Get().(*[]byte)
	defer putScratch(buf)
	data, charged, err := recordData(*buf, b, limit, bud)
	if err != nil {
		return Valid{}, err
	}
	defer give(bud, charged)
	if h.Compression() != None {
		*buf = data[:0] // keep the space, grown if it had to be
	}
	it := Iter{data: data, left: h.NumRecords}
	maxTS, minTS := int64(math.MinInt64), int64(math.MaxInt64)
	var v View
	for i := int32(0); it.Next(&v); i++ {
		if v.OffsetDelta != i {
			return Valid{}, corruptf("record %d has offset delta %d", i, v.OffsetDelta)
		}
		// The timestamps themselves, not their deltas: deltas are full
		// int64s, and the sum wraps (a bound on the ends of the deltas let
		// a record a century ahead through).
		ts := h.FirstTimestamp + v.TimestampDelta
		maxTS = max(maxTS, ts)
		if ts != -1 {
			minTS = min(minTS, ts)
		}
		if fn != nil {
			if err := fn(i, v); err != nil {
				return Valid{}, err
			}
		}
	}
	if err := it.Err(); err != nil {
		return Valid{}, err
	}
	if minTS == math.MaxInt64 {
		minTS = -1
	}
	return Valid{Header: h, MaxTimestampSeen: maxTS, MinTimestampSeen: minTS}, nil
}

// scratchBufs hold decompressed record data that CheckRecords reads and
// drops. Buffers past maxScratch are not pooled, so one huge batch does not
// pin its memory.
var scratchBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxScratch = 4 << 20

func putScratch(buf *[]byte) {
	if cap(*buf) <= maxScratch {
		scratchBufs.Put(buf)
	}
}
