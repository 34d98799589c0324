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
