package commitlog

import (
	"encoding/binary"
	"errors"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// maxDecompressed bounds the record data of one compressed batch once
// decompressed: a few kilobytes of zstd can claim gigabytes.
const maxDecompressed = 128 << 20

// recordData returns the record bytes of the framed batch b: b's own bytes
// when it is uncompressed (the common case, no copy), else its decompressed
// data. Compressed batches are stored as the producer sent them and
// decompressed on every read that needs single records; Kafka consumers get
// the stored bytes instead.
func recordData(b []byte) ([]byte, error) {
	if binary.BigEndian.Uint16(b[offAttributes:])&attrCompressionMask == 0 {
		return b[batchHeaderLen:], nil
	}
	p, err := recordbatch.RecordData(b, maxDecompressed)
	if errors.Is(err, recordbatch.ErrTooLarge) {
		return nil, corruptf("compressed records past %d bytes", maxDecompressed)
	}
	if err != nil {
		return nil, corruptf("%v", err)
	}
	return p, nil
}
