package coordinator

import (
	"fmt"
	"slices"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// maxRecordData bounds the record data a stored batch decompresses to; the
// log refuses larger batches on append (commitlog's own bound), so this is
// only a guard.
const maxRecordData = 128 << 20

// storedBatch is one batch as the log stores it, with what a poll needs to
// know of its records without decoding them again: where each starts in
// the record data, its size as max_bytes counts it (its key, value and
// header keys and values), and the DLQ replays meant for one group. It is built once per read of the batch
// from the log (the read checked its CRC) and immutable after: polls and
// answers being written share it.
type storedBatch struct {
	raw     []byte // the batch as stored, compressed or not
	base    int64
	next    int64 // the offset after the batch's last
	firstTS int64
	// data is the record data: raw's own bytes, or raw's records
	// decompressed (kept so that a JSON answer or a rebuilt frame decodes
	// a single record without decompressing the batch again).
	data    []byte
	recs    []recordAt // by offset delta; nil for a control batch
	end     uint32     // len(data): where the last record ends
	replays []replayAt // records with api.ReplayHeaderGroup, by offset
	buf     *readBuf   // what raw is read into; its holders keep raw valid
}

// recordAt is where a record starts in its batch's data and its size as
// max_bytes counts it.
type recordAt struct {
	pos  uint32
	size int32
}

// replayAt is a record that a DLQ replay wrote for one group.
type replayAt struct {
	off   int64
	group string
}

// indexBatch indexes raw, one whole stored batch that the log's read has
// checked (frame and CRC). A control batch holds no messages: it indexes
// no records. Compressed records are decompressed charged to bud (nil:
// none), which the caller gives charged back to; on an error nothing
// stays charged, and a refusal of bud is recordbatch.ErrBusy.
func indexBatch(raw []byte, bud recordbatch.Budget) (_ *storedBatch, charged int64, err error) {
	h, err := recordbatch.ParseHeader(raw)
	if err != nil {
		return nil, 0, err
	}
	b := &storedBatch{raw: raw, base: h.BaseOffset, next: h.NextOffset(), firstTS: h.FirstTimestamp}
	if h.Control() {
		return b, 0, nil
	}
	if b.data, charged, err = recordbatch.RecordDataInto(nil, raw, maxRecordData, bud); err != nil {
		return nil, 0, err
	}
	defer func() {
		if err != nil && bud != nil && charged > 0 {
			bud.Give(charged)
			charged = 0
		}
	}()
	n := int(max(h.NumRecords, 0))
	b.recs = make([]recordAt, 0, n)
	var v recordbatch.View
	for p := b.data; len(b.recs) < n; {
		at := recordAt{pos: uint32(len(b.data) - len(p))}
		if p, err = recordbatch.DecodeRecord(p, &v); err != nil {
			return nil, charged, err
		}
		if int(v.OffsetDelta) != len(b.recs) {
			return nil, charged, fmt.Errorf("record %d has offset delta %d", len(b.recs), v.OffsetDelta)
		}
		at.size = int32(len(v.Key) + len(v.Value))
		replay := false
		for hs := v.Headers(); ; {
			k, val, ok := hs.Next()
			if !ok {
				break
			}
			at.size += int32(len(k) + len(val))
			if !replay && string(k) == api.ReplayHeaderGroup {
				replay = true // the first such header decides, as replayedForOther reads it
				b.replays = append(b.replays, replayAt{off: b.base + int64(v.OffsetDelta), group: string(val)})
			}
		}
		b.recs = append(b.recs, at)
	}
	b.end = uint32(len(b.data))
	return b, charged, nil
}

// has reports whether the batch holds a message at off.
func (b *storedBatch) has(off int64) bool { return off >= b.base && off-b.base < int64(len(b.recs)) }

// size is the size of the message at off (has(off) must hold).
func (b *storedBatch) size(off int64) int { return int(b.recs[off-b.base].size) }

// compressed reports whether data is not raw's own bytes.
func (b *storedBatch) compressed() bool {
	return len(b.data) > 0 && (len(b.raw) <= recordbatch.HeaderLen || &b.data[0] != &b.raw[recordbatch.HeaderLen])
}

// indexBytes is what b's index costs beside its stored bytes, roughly:
// the record positions and a decompressed copy.
func (b *storedBatch) indexBytes() int64 {
	n := int64(cap(b.recs))*8 + 96
	if b.compressed() {
		n += int64(cap(b.data))
	}
	return n
}

// replayedForOther reports whether the message at off is a DLQ replay
// meant for another group than group: a poll settles such a message
// without delivering it.
func (b *storedBatch) replayedForOther(off int64, group string) bool {
	for _, r := range b.replays {
		if r.off == off {
			return r.group != group
		}
	}
	return false
}

// record decodes the message at off (has(off) must hold). Its bytes alias
// the batch.
func (b *storedBatch) record(off int64) commitlog.Record {
	i := off - b.base
	end := b.end
	if i+1 < int64(len(b.recs)) {
		end = b.recs[i+1].pos
	}
	var v recordbatch.View
	// The index decoded this record already: it cannot fail now.
	recordbatch.DecodeRecord(b.data[b.recs[i].pos:end], &v)
	r := commitlog.Record{Offset: off, Timestamp: b.firstTS + v.TimestampDelta, Key: v.Key, Value: v.Value, Attributes: v.Attributes}
	if v.NumHeaders() > 0 {
		r.Headers = v.AppendHeaders(make([]commitlog.Header, 0, v.NumHeaders()))
	}
	return r
}

// findBatch returns the batch of bs (sorted, consecutive) that holds off,
// or nil.
func findBatch(bs []*storedBatch, off int64) *storedBatch {
	if len(bs) == 0 || off < bs[0].base || off >= bs[len(bs)-1].next {
		return nil
	}
	i, _ := slices.BinarySearchFunc(bs, off, func(b *storedBatch, off int64) int {
		switch {
		case b.next <= off:
			return -1
		case b.base > off:
			return 1
		}
		return 0
	})
	if i < len(bs) && bs[i].base <= off && off < bs[i].next {
		return bs[i]
	}
	return nil
}

// readStored reads stored batches of l from the one holding off on, about
// maxBytes of them but at least that one, into a buffer of pool, and
// indexes them, charging what compressed batches decompress to to bud
// (see indexBatch; charged is the caller's to give back). The caller
// holds the buffer (see readBuf) until it releases it; the batches are
// valid while someone holds it.
func readStored(l *commitlog.Log, off int64, maxBytes int, pool *bufPool, bud recordbatch.Budget) (_ []*storedBatch, _ *readBuf, charged int64, _ error) {
	rb := pool.get(l.ReadSize(off, maxBytes))
	buf, err := l.ReadBatches(off, maxBytes, rb.b[:0])
	if cap(buf) != cap(rb.b) {
		// The read outgrew the buffer: keep the grown one, and let the
		// one from the pool go (nothing refers to it).
		rb.b = buf[:0]
	}
	if err != nil {
		rb.release()
		return nil, nil, 0, err
	}
	var out []*storedBatch
	for len(buf) > 0 {
		n, ok := recordbatch.Len(buf)
		if !ok || n > len(buf) {
			rb.release()
			give(bud, charged)
			return nil, nil, 0, fmt.Errorf("coordinator: read batches at %d: bad batch length", off)
		}
		b, k, err := indexBatch(buf[:n:n], bud)
		if err != nil {
			rb.release()
			give(bud, charged)
			return nil, nil, 0, fmt.Errorf("coordinator: index batch at %d: %w", recordbatch.BaseOffset(buf), err)
		}
		charged += k
		b.buf = rb
		out = append(out, b)
		buf = buf[n:]
	}
	return out, rb, charged, nil
}

// give gives n bytes back to bud, if there is one.
func give(bud recordbatch.Budget, n int64) {
	if bud != nil && n > 0 {
		bud.Give(n)
	}
}
