package commitlog

import "github.com/abd-ulbasit/goqueue/recordbatch"

// CheckBatch validates one encoded Kafka RecordBatch v2 exactly as
// AppendBatch will (framing, CRC-32C, a known codec, non-control data,
// well-formed records) without writing it, and returns its record count. It
// lets a caller check every batch of a request before appending any. Errors
// wrap ErrCorrupt or ErrUnsupported.
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

// BatchAttributes returns the batch-level attributes of b, which CheckBatch
// accepted: compression, timestamp type, transactional and control bits.
func BatchAttributes(b []byte) uint16 {
	h, _ := recordbatch.ParseHeader(b)
	return uint16(h.Attributes)
}

// EachRecord calls fn with each record of b, which CheckBatch accepted, in
// order, and returns fn's first error. For an uncompressed batch it
// allocates nothing.
func EachRecord(b []byte, fn func(i int, r BatchRecord) error) error {
	h, err := recordbatch.ParseHeader(b)
	if err != nil {
		return batchError(err)
	}
	it, err := records(b)
	if err != nil {
		return err
	}
	var v recordbatch.View
	for i := 0; it.Next(&v); i++ {
		size := len(v.Key) + len(v.Value)
		for hs := v.Headers(); ; {
			k, val, ok := hs.Next()
			if !ok {
				break
			}
			size += len(k) + len(val)
		}
		if err := fn(i, BatchRecord{Timestamp: h.FirstTimestamp + v.TimestampDelta, Attributes: v.Attributes, Size: size}); err != nil {
			return err
		}
	}
	return batchError(it.Err())
}
