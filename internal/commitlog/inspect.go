package commitlog

import "encoding/binary"

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
	return binary.BigEndian.Uint16(b[offAttributes:])
}

// EachRecord calls fn with each record of b, which CheckBatch accepted, in
// order, and returns fn's first error. It allocates nothing.
func EachRecord(b []byte, fn func(i int, r BatchRecord) error) error {
	first := int64(binary.BigEndian.Uint64(b[offFirstTimestamp:]))
	count := int(int32(binary.BigEndian.Uint32(b[offRecordCount:])))
	p := b[batchHeaderLen:]
	for i := range count {
		v, rest, err := nextRecord(p)
		if err != nil {
			return err
		}
		p = rest
		size := len(v.key) + len(v.value)
		h := v.headers
		for range v.headerCount {
			var k, val []byte
			k, h, _ = readBytes(h) // validated by nextRecord
			val, h, _ = readBytes(h)
			size += len(k) + len(val)
		}
		if err := fn(i, BatchRecord{Timestamp: first + v.timestampDelta, Attributes: v.attributes, Size: size}); err != nil {
			return err
		}
	}
	return nil
}
