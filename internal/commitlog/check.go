package commitlog

// CheckBatch validates one encoded Kafka RecordBatch v2 exactly as
// AppendBatch will (framing, CRC-32C, a known codec, non-control data,
// well-formed records) without writing it, and returns its record count. It
// lets a caller check every batch of a request before appending any. Errors
// wrap ErrCorrupt or ErrUnsupported.
func CheckBatch(b []byte) (records int32, err error) {
	info, err := checkBatch(b)
	return info.records, err
}

// BatchSummary is what InspectBatch learns of a valid batch.
type BatchSummary struct {
	Records      int32
	MinTimestamp int64 // smallest record timestamp, ms since the Unix epoch
	MaxTimestamp int64 // largest record timestamp
}

// InspectBatch validates b as CheckBatch does and also returns the range of
// its record timestamps (computed from the records, not trusted from the
// header), so that a caller can bound them before appending.
func InspectBatch(b []byte) (BatchSummary, error) {
	info, err := checkBatch(b)
	if err != nil {
		return BatchSummary{}, err
	}
	return BatchSummary{Records: info.records, MinTimestamp: info.minTS, MaxTimestamp: info.maxTS}, nil
}
