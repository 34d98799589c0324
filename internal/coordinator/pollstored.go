package coordinator

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"slices"

	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// The binary poll answer serves what is stored. Delivery still decides,
// offset by offset, what a member takes (leases, redeliveries, delivery
// counts, the in-flight cap, max_bytes); the answer carries those offsets
// as ranges with their delivery counts, and the stored batches that hold
// them. The client walks each batch in place and hands out only the
// records inside a range. Nothing is decoded or encoded per record on the
// way out: the index made when the batch was read (storedBatch) says where
// each record starts and how large it is.
//
// A batch goes out in one of two shapes:
//   - as stored (compressed or not, CRC untouched) when the answer takes
//     all its records, or, compressed, at least 1/wasteRatio of them (the
//     client decompresses; re-compressing a part would cost more than the
//     bytes it saves);
//   - otherwise as a slice: the stored header with its record count, last
//     offset delta, length and CRC set for a span of its records, which
//     follow it as stored, uncopied (decompressed, if the batch is
//     compressed).
//     The records keep their offset deltas, so the slice's records are at
//     the same offsets as in the stored batch. A redelivery of one offset in
//     the middle of a 1 MiB batch costs the answer that one record, and a
//     poll that takes a few hundred records of a large batch carries those
//     and not the rest. Spans split where the answer skips more than
//     sliceGap bytes of records.
//
// max_bytes still bounds the messages' bytes (key, value and headers); the answer's own
// bytes are at most wasteRatio times the records it hands out plus a
// header and sliceGap per span.
const (
	wasteRatio = 4
	sliceGap   = 4 << 10
)

// StoredRange is a run of consecutive offsets of one partition that a
// binary poll answer hands out, each now delivered DeliveryCount times.
type StoredRange struct {
	First, Last   int64
	DeliveryCount int
}

// StoredPart is one partition's share of a binary poll answer.
type StoredPart struct {
	Topic     string
	Partition int32
	// Ranges are what the member may process: ascending, disjoint, and
	// adjacent ones differ in delivery count.
	Ranges []StoredRange
	// Batches hold every offset of Ranges and maybe others around them,
	// which the member skips: RecordBatch v2 bytes, CRC set, ascending by
	// offset, not overlapping.
	Batches []ServedBatch
	// bufs are the read buffers Batches are in, each held once for the
	// answer until ReleaseStored.
	bufs []*readBuf
}

// ReleaseStored says that the caller is done with parts, an answer of
// PollStored (written out, or dropped): the read buffers that its
// batches' bytes are in may then serve other reads. After it, nothing of
// parts' Batches may be read. A caller that never calls it only keeps
// those buffers from being recycled.
func ReleaseStored(parts []StoredPart) {
	for i := range parts {
		for _, b := range parts[i].bufs {
			b.release()
		}
		parts[i].bufs = nil
	}
}

// PollBuffers returns how many poll read buffers of pooled sizes were
// handed out (got) and how many of them were allocated (made) rather than
// taken from those earlier answers released: made stays a small part of
// got while every answer is released (ReleaseStored).
func (c *Coordinator) PollBuffers() (got, made int64) {
	return c.runs.bufs.got.Load(), c.runs.bufs.made.Load()
}

// ServedBatch is one RecordBatch v2 of an answer: Head followed by Body.
// A stored batch is all Body (Head nil); a slice of one is a new header
// and its records as stored. Body is shared with the cache and with other
// answers: neither may be changed.
type ServedBatch struct {
	Head, Body []byte
}

// Len is the batch's size.
func (b ServedBatch) Len() int { return len(b.Head) + len(b.Body) }

// PollStored is Poll answering with stored batches (see StoredPart) instead
// of decoded records: the binary answer's path. Its errors are Poll's.
func (c *Coordinator) PollStored(ctx context.Context, groupID string, req PollParams, host string) ([]StoredPart, error) {
	var sink storedSink
	if err := c.poll(ctx, groupID, req, host, &sink); err != nil {
		return nil, err
	}
	return sink.answer(), nil
}

// storedSink collects a poll's messages as per-partition ranges and the
// batches that hold them.
type storedSink struct {
	parts []*partSink // in the order the poll first handed out each
	n     int
}

// partSink is one partition's share of a storedSink.
type partSink struct {
	tp      delivery.TP
	ranges  []StoredRange
	batches []*storedBatch
}

func (s *storedSink) taken() []groupstate.Range {
	var out []groupstate.Range
	for _, p := range s.parts {
		for _, r := range p.ranges {
			out = append(out, groupstate.Range{TP: p.tp, From: r.First, To: r.Last + 1})
		}
	}
	return out
}

func (s *storedSink) reserve(int) {}
func (s *storedSink) len() int    { return s.n }

func (s *storedSink) add(tp delivery.TP, b *storedBatch, off int64, deliveryCount int) {
	s.n++
	p := s.part(tp)
	if n := len(p.ranges); n > 0 && p.ranges[n-1].Last+1 == off && p.ranges[n-1].DeliveryCount == deliveryCount {
		p.ranges[n-1].Last = off
	} else {
		p.ranges = append(p.ranges, StoredRange{First: off, Last: off, DeliveryCount: deliveryCount})
	}
	if n := len(p.batches); n == 0 || p.batches[n-1] != b {
		p.batches = append(p.batches, b)
		b.buf.hold() // for the answer, until ReleaseStored or discard
	}
}

func (s *storedSink) discard() {
	for _, p := range s.parts {
		for _, b := range p.batches {
			b.buf.release()
		}
	}
	s.parts, s.n = nil, 0
}

// part returns tp's share, made if new. A member owns a few partitions and
// a round hands out each one's messages together: the last is looked at
// first.
func (s *storedSink) part(tp delivery.TP) *partSink {
	if n := len(s.parts); n > 0 && s.parts[n-1].tp == tp {
		return s.parts[n-1]
	}
	for _, p := range s.parts {
		if p.tp == tp {
			return p
		}
	}
	p := &partSink{tp: tp}
	s.parts = append(s.parts, p)
	return p
}

// answer is what the sink collected, each partition's ranges in order and
// merged, and its batches in the shape to serve.
func (s *storedSink) answer() []StoredPart {
	out := make([]StoredPart, 0, len(s.parts))
	for _, p := range s.parts {
		// Redeliveries come before new messages: sort, and merge what
		// became adjacent.
		slices.SortStableFunc(p.ranges, func(a, b StoredRange) int { return cmpInt64(a.First, b.First) })
		ranges := p.ranges[:0]
		for _, r := range p.ranges {
			if n := len(ranges); n > 0 && ranges[n-1].Last+1 == r.First && ranges[n-1].DeliveryCount == r.DeliveryCount {
				ranges[n-1].Last = r.Last
				continue
			}
			ranges = append(ranges, r)
		}
		// Every hold of add, duplicates included, taken before the
		// compaction below overwrites p.batches.
		bufs := make([]*readBuf, len(p.batches))
		for i, b := range p.batches {
			bufs[i] = b.buf
		}
		// One stored batch may have been read twice in one poll (for a
		// redelivery, then ahead): the same bytes, served once.
		slices.SortStableFunc(p.batches, func(a, b *storedBatch) int { return cmpInt64(a.base, b.base) })
		batches := slices.CompactFunc(p.batches, func(a, b *storedBatch) bool { return a.base == b.base })
		sp := StoredPart{Topic: p.tp.Topic, Partition: p.tp.Partition, Ranges: ranges, bufs: bufs}
		for _, b := range batches {
			sp.Batches = appendServed(sp.Batches, b, ranges)
		}
		out = append(out, sp)
	}
	return out
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// appendServed appends b in the shape that serves ranges' offsets in it
// (see the top of this file).
func appendServed(dst []ServedBatch, b *storedBatch, ranges []StoredRange) []ServedBatch {
	// The spans of b's records that ranges take, by index in b.
	var spans [][2]int
	covered := 0
	i, _ := slices.BinarySearchFunc(ranges, b.base, func(r StoredRange, off int64) int { return cmpInt64(r.Last, off) })
	for ; i < len(ranges) && ranges[i].First < b.next; i++ {
		lo := int(max(ranges[i].First, b.base) - b.base)
		hi := int(min(ranges[i].Last, b.base+int64(len(b.recs))-1) - b.base)
		if hi < lo {
			continue
		}
		covered += hi - lo + 1
		if n := len(spans); n > 0 && int(b.recs[lo].pos-b.recEnd(spans[n-1][1])) <= sliceGap {
			spans[n-1][1] = hi
			continue
		}
		spans = append(spans, [2]int{lo, hi})
	}
	switch {
	case len(spans) == 0:
		return dst
	case covered == len(b.recs), b.compressed() && covered*wasteRatio >= len(b.recs):
		return append(dst, ServedBatch{Body: b.raw})
	}
	for _, sp := range spans {
		dst = append(dst, b.slice(sp[0], sp[1]))
	}
	return dst
}

// recEnd is where record i of b ends in b.data.
func (b *storedBatch) recEnd(i int) uint32 {
	if i+1 < len(b.recs) {
		return b.recs[i+1].pos
	}
	return b.end
}

// slice is a new uncompressed batch of b's records lo..hi (by index): b's
// header with the count, last offset delta, length and CRC of those
// records, and their bytes as stored (not copied; copied out of a
// compressed batch's decompressed records, which the answer would
// otherwise keep whole), offset deltas included.
func (b *storedBatch) slice(lo, hi int) ServedBatch {
	recs := b.data[b.recs[lo].pos:b.recEnd(hi)]
	if b.compressed() {
		recs = bytes.Clone(recs)
	}
	head := make([]byte, recordbatch.HeaderLen)
	copy(head, b.raw[:recordbatch.HeaderLen])
	be := binary.BigEndian
	be.PutUint32(head[recordbatch.OffLength:], uint32(len(head)+len(recs)-recordbatch.LengthFieldEnd))
	be.PutUint16(head[recordbatch.OffAttributes:], be.Uint16(head[recordbatch.OffAttributes:])&^uint16(compressionBits))
	be.PutUint32(head[recordbatch.OffLastOffsetDelta:], uint32(hi))
	be.PutUint32(head[recordbatch.OffRecordCount:], uint32(hi-lo+1))
	crc := crc32.Update(crc32.Checksum(head[recordbatch.OffAttributes:], castagnoli), castagnoli, recs)
	be.PutUint32(head[recordbatch.OffCRC:], crc)
	return ServedBatch{Head: head, Body: recs}
}

// castagnoli is the CRC-32C table of batch CRCs; immutable.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// compressionBits are the attribute bits that name a batch's codec.
const compressionBits = 0x07
