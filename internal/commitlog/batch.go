package commitlog

import (
	"errors"
	"fmt"
	"sync"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// MaxDecompressed bounds the record data of one compressed batch once
// decompressed: a few kilobytes of zstd can claim gigabytes. Compressed
// batches are stored as the producer sent them and decompressed on every
// read that needs single records; Kafka consumers get the stored bytes.
const MaxDecompressed = 128 << 20

// batchInfo is what the log needs to know about one valid batch.
type batchInfo struct {
	base    int64 // base offset as stored
	records int32 // record count; the batch holds [base, base+records)
	size    int   // whole batch in bytes, header included
	firstTS int64 // batch first timestamp; record timestamps are deltas from it
	maxTS   int64 // largest record timestamp, computed from the records
}

// next is the offset after the batch's last record.
func (b batchInfo) next() int64 { return b.base + int64(b.records) }

// corruptf wraps ErrCorrupt with what was wrong.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// batchError says an error of package recordbatch under ErrCorrupt.
func batchError(err error) error {
	if err == nil {
		return nil // before ce, which escapes: reads call this per batch
	}
	var ce *recordbatch.CorruptError
	switch {
	case errors.As(err, &ce):
		return corruptf("%s", ce.Reason)
	case errors.Is(err, recordbatch.ErrTooLarge):
		return corruptf("compressed records past %d bytes", MaxDecompressed)
	case errors.Is(err, recordbatch.ErrBusy):
		return fmt.Errorf("commitlog: %w", err)
	}
	return corruptf("%v", err)
}

// checkFrame checks that b is exactly one batch by its length field, with
// magic 2 and a matching CRC-32C. It does not look at the records.
func checkFrame(b []byte) (recordbatch.Header, error) {
	h, err := recordbatch.CheckFrame(b)
	if err != nil {
		return h, batchError(err)
	}
	return h, nil
}

// checkBatch validates one whole encoded batch b (exactly one batch, no
// trailing bytes) by recordbatch.Validate, and refuses what the log does not
// store: unknown codecs and control batches (ErrUnsupported). Compressed
// batches are decompressed to check their records; an uncompressed one
// costs no allocation.
func checkBatch(b []byte) (batchInfo, error) {
	c, err := CheckFrame(b)
	if err != nil {
		return batchInfo{}, err
	}
	if err := c.CheckRecords(Decompression{}, nil); err != nil {
		return batchInfo{}, err
	}
	return c.info, nil
}

// decoder decompresses the compressed batches a log's reads decode: each
// into a pooled buffer, charged to a budget shared over the process
// (Options.Decompress) for as long as the read decodes it. A read copies
// out the records it returns (own), so nothing it hands back pins the
// buffer: a read of one small record of a batch of 100 MiB once returned
// it aliasing the whole decompressed batch, uncharged, and a few hundred
// readers of a compressed topic held that much each. Safe for concurrent
// use.
type decoder struct {
	bud  recordbatch.Budget // immutable; nil: none
	bufs sync.Pool          // of *[]byte, at most maxPooledRecords each
}

// maxPooledRecords bounds the decompressed buffers kept for later reads,
// so that one huge batch does not pin its memory.
const maxPooledRecords = 4 << 20

// records starts an iteration over the records of the framed batch b,
// decompressing them if need be. done must be called once nothing reads
// the records' bytes any more: for a compressed batch they alias a
// buffer that done gives back (own copies what outlives it). A refusal of
// the budget is recordbatch.ErrBusy, not ErrCorrupt.
func (d *decoder) records(b []byte) (it recordbatch.Iter, compressed bool, done func(), err error) {
	h, err := recordbatch.ParseHeader(b)
	if err != nil {
		return it, false, nil, batchError(err)
	}
	if h.Compression() == recordbatch.None {
		it, err = recordbatch.NewIter(b, MaxDecompressed)
		return it, false, func() {}, batchError(err)
	}
	buf, _ := d.bufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	data, charged, err := recordbatch.RecordDataInto(*buf, b, MaxDecompressed, d.bud)
	if err != nil {
		d.bufs.Put(buf)
		return it, true, nil, batchError(err)
	}
	done = func() {
		give := d.bud
		if give != nil && charged > 0 {
			give.Give(charged)
		}
		if cap(data) <= maxPooledRecords {
			*buf = data[:0]
			d.bufs.Put(buf)
		}
	}
	if it, err = recordbatch.IterOver(data, h.NumRecords); err != nil {
		done()
		return it, true, nil, batchError(err)
	}
	return it, true, done, nil
}

// Own copies the bytes of recs (keys, values, header values) into one new
// buffer of their size, so that they no longer alias the buffer they were
// read into (a decoder's, a poll's read buffer). Header keys are strings,
// copies already.
func Own(recs []Record) {
	n := 0
	for i := range recs {
		r := &recs[i]
		n += len(r.Key) + len(r.Value)
		for _, h := range r.Headers {
			n += len(h.Value)
		}
	}
	arena := make([]byte, 0, n)
	clone := func(p []byte) []byte {
		if p == nil {
			return nil
		}
		arena = append(arena, p...)
		return arena[len(arena)-len(p) : len(arena) : len(arena)]
	}
	for i := range recs {
		r := &recs[i]
		r.Key, r.Value = clone(r.Key), clone(r.Value)
		for j := range r.Headers {
			r.Headers[j].Value = clone(r.Headers[j].Value)
		}
	}
}

// encoder turns Records into RecordBatch v2 bytes. Its scratch space is
// reused between calls; one goroutine uses it at a time.
type encoder struct {
	buf []byte
	b   recordbatch.Builder
}

// encode appends recs as one batch with the given base offset and returns the
// batch bytes (valid until the next encode) and its description. Every
// recs[i].Timestamp must already be set.
func (e *encoder) encode(base int64, recs []Record) ([]byte, batchInfo) {
	e.b.Reset(e.buf[:0])
	for i := range recs {
		r := &recs[i]
		e.b.Add(r.Attributes, r.Timestamp, r.Key, r.Value, r.Headers)
	}
	e.buf = e.b.Finish(recordbatch.NewHeader(base))
	first := recs[0].Timestamp
	return e.buf, batchInfo{base: base, records: int32(len(recs)), size: len(e.buf), firstTS: first,
		maxTS: recordbatch.MaxTimestamp(e.buf)}
}
