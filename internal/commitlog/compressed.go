package commitlog

import (
	"encoding/binary"
	"errors"
	"sync"

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
	return recordDataInto(nil, b)
}

// recordDataInto is recordData decompressing into dst's space (from
// dst[:0]): with a reused buffer, no allocation and no zeroing of a new
// one, which led the profile of appends of compressed batches.
func recordDataInto(dst, b []byte) ([]byte, error) {
	c := binary.BigEndian.Uint16(b[offAttributes:]) & attrCompressionMask
	if c == 0 {
		return b[batchHeaderLen:], nil
	}
	p, err := recordbatch.Decompress(dst[:0], recordbatch.Codec(c), b[batchHeaderLen:], maxDecompressed)
	if errors.Is(err, recordbatch.ErrTooLarge) {
		return nil, corruptf("compressed records past %d bytes", maxDecompressed)
	}
	if err != nil {
		return nil, corruptf("%v", err)
	}
	return p, nil
}

// scratchBufs are buffers for record data that is only read while a batch
// is checked (checkBatch), not kept. Buffers past maxScratch are dropped
// rather than pooled, so one huge batch does not pin its memory.
var scratchBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxScratch = 4 << 20

func getScratch() *[]byte { return scratchBufs.Get().(*[]byte) }

func putScratch(buf *[]byte) {
	if cap(*buf) <= maxScratch {
		scratchBufs.Put(buf)
	}
}
