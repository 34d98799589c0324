package recordbatch

import "math"

// Valid is what Validate learned of a batch.
type Valid struct {
	Header
	// MaxTimestampSeen is the largest record timestamp, from the records
	// themselves (the header's MaxTimestamp is the producer's claim).
	MaxTimestampSeen int64
}

// Validate checks one whole batch b (no trailing bytes) the way a broker
// must before storing it: framing, magic, CRC-32C, a known codec whose data
// decompresses to at most limit bytes, a record count that matches both
// LastOffsetDelta and the records present, offset deltas 0..n-1, and
// well-formed records. Control batches are checked the same way.
func Validate(b []byte, limit int) (Valid, error) {
	h, err := CheckFrame(b)
	if err != nil {
		return Valid{}, err
	}
	if h.Compression() > Zstd {
		return Valid{}, corruptf("unknown compression codec %d", h.Compression())
	}
	if h.NumRecords < 1 || h.LastOffsetDelta != h.NumRecords-1 {
		return Valid{}, corruptf("record count %d, last offset delta %d", h.NumRecords, h.LastOffsetDelta)
	}
	if h.BaseOffset < 0 || h.BaseOffset > math.MaxInt64-int64(h.NumRecords) {
		return Valid{}, corruptf("base offset %d", h.BaseOffset)
	}
	data, err := RecordData(b, limit)
	if err != nil {
		return Valid{}, err
	}
	maxDelta, err := walkRecords(data, h.NumRecords)
	if err != nil {
		return Valid{}, err
	}
	return Valid{Header: h, MaxTimestampSeen: h.FirstTimestamp + maxDelta}, nil
}

// walkRecords checks that data is exactly n records with offset deltas
// 0..n-1 and returns their largest timestamp delta.
func walkRecords(data []byte, n int32) (int64, error) {
	maxDelta := int64(math.MinInt64)
	for i := int32(0); i < n; i++ {
		var r Record
		var err error
		if r, data, err = NextRecord(data); err != nil {
			return 0, err
		}
		if r.OffsetDelta != i {
			return 0, corruptf("record %d has offset delta %d", i, r.OffsetDelta)
		}
		maxDelta = max(maxDelta, r.TimestampDelta)
	}
	if len(data) != 0 {
		return 0, corruptf("%d bytes after the last record", len(data))
	}
	return maxDelta, nil
}

// Records decodes every record of a checked batch b (decompressing at most
// limit bytes). The records alias b or the decompressed data.
func Records(b []byte, limit int) ([]Record, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	data, err := RecordData(b, limit)
	if err != nil {
		return nil, err
	}
	recs := make([]Record, 0, max(min(h.NumRecords, 4096), 0))
	for len(data) > 0 {
		var r Record
		if r, data, err = NextRecord(data); err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}
