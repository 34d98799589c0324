package client

import (
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// appendStoredFrame encodes one frame of a stored-batches answer as the
// format says (api.PollStoredContentType), independently of the broker.
func appendStoredFrame(dst []byte, topic string, partition int32, ranges []storedRange, batches ...[]byte) []byte {
	be := binary.BigEndian
	dst = be.AppendUint32(dst, uint32(partition))
	dst = be.AppendUint16(dst, uint16(len(topic)))
	dst = append(dst, topic...)
	dst = be.AppendUint32(dst, uint32(len(ranges)))
	for _, r := range ranges {
		dst = be.AppendUint64(dst, uint64(r.first))
		dst = be.AppendUint64(dst, uint64(r.last))
		dst = be.AppendUint32(dst, uint32(r.deliveryCount))
	}
	dst = be.AppendUint32(dst, uint32(len(batches)))
	for _, b := range batches {
		dst = be.AppendUint32(dst, uint32(len(b)))
		dst = append(dst, b...)
	}
	return dst
}

// kmsgBatch encodes records with kmsg alone, their offset deltas as given
// (a slice of a stored batch starts past 0), uncompressed, CRC set.
func kmsgBatch(base, firstTS int64, records []kmsg.Record) []byte {
	var recs []byte
	for _, r := range records {
		r.Length = 0
		r.Length = int32(len(r.AppendTo(nil)) - 1) // the 0 took one byte
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{
		FirstOffset: base, PartitionLeaderEpoch: -1, Magic: 2,
		LastOffsetDelta: records[len(records)-1].OffsetDelta, FirstTimestamp: firstTS, MaxTimestamp: firstTS,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(len(records)), Records: recs,
	}
	b.Length = int32(len(b.AppendTo(nil)) - 12)
	batch := b.AppendTo(nil)
	recordbatch.SetCRC(batch)
	return batch
}

// valuesBatch is n records at base with values "a".."z"..., offset deltas
// from delta0, timestamps firstTS+delta, compressed with c.
func valuesBatch(t testing.TB, base int64, delta0, n int, c recordbatch.Codec) []byte {
	t.Helper()
	if c == recordbatch.None {
		recs := make([]kmsg.Record, n)
		for i := range recs {
			d := int32(delta0 + i)
			recs[i] = kmsg.Record{OffsetDelta: d, TimestampDelta64: int64(d), Value: []byte{'a' + byte(d%26)}}
		}
		return kmsgBatch(base, 1_700_000_000_000, recs)
	}
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{TimestampDelta: int64(i), Value: []byte{'a' + byte(i%26)}}
	}
	h := recordbatch.NewHeader(base)
	h.FirstTimestamp = 1_700_000_000_000
	b, err := recordbatch.Build(nil, h, c, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gappedBatch is a batch at base whose records have the offset deltas
// given, gaps and all (as compaction leaves them), valued as valuesBatch's.
func gappedBatch(base int64, deltas ...int32) []byte {
	recs := make([]kmsg.Record, len(deltas))
	for i, d := range deltas {
		recs[i] = kmsg.Record{OffsetDelta: d, TimestampDelta64: int64(d), Value: []byte{'a' + byte(d%26)}}
	}
	return kmsgBatch(base, 1_700_000_000_000, recs)
}

// got is what a test compares of a decoded message.
type got struct {
	partition int32
	offset    int64
	count     int
	value     string
	ts        int64
}

func gotOf(msgs []*Message) []got {
	out := make([]got, len(msgs))
	for i, m := range msgs {
		out[i] = got{m.Partition, m.Offset, m.DeliveryCount, string(m.Value), m.Timestamp.UnixMilli()}
	}
	return out
}

// at is the message a valuesBatch at base holds at off, as got.
func at(partition int32, base, off int64, count int) got {
	d := off - base
	return got{partition, off, count, string(rune('a' + d%26)), 1_700_000_000_000 + d}
}

// A stored-batches answer hands out exactly the records of its ranges,
// each with its range's delivery count, from whole, sliced and compressed
// batches, skipping control batches and records outside the ranges.
func TestDecodePollStored(t *testing.T) {
	marker := recordbatch.BuildMarker(nil, recordbatch.Header{BaseOffset: 110, ProducerID: 1}, recordbatch.ControlCommit, 0, 1_700_000_000_000)
	for _, tc := range []struct {
		name string
		body []byte
		want []got
	}{
		{"empty", nil, []got{}},
		{"ranges inside one batch", appendStoredFrame(nil, "t", 3, []storedRange{{102, 104, 1}, {107, 107, 3}}, valuesBatch(t, 100, 0, 10, recordbatch.None)),
			[]got{at(3, 100, 102, 1), at(3, 100, 103, 1), at(3, 100, 104, 1), at(3, 100, 107, 3)}},
		{"a slice whose deltas start past 0", appendStoredFrame(nil, "t", 0, []storedRange{{105, 106, 2}}, valuesBatch(t, 100, 5, 3, recordbatch.None)),
			[]got{at(0, 100, 105, 2), at(0, 100, 106, 2)}},
		{"compressed", appendStoredFrame(nil, "t", 1, []storedRange{{200, 203, 1}}, valuesBatch(t, 200, 0, 4, recordbatch.Snappy)),
			[]got{at(1, 200, 200, 1), at(1, 200, 201, 1), at(1, 200, 202, 1), at(1, 200, 203, 1)}},
		{"ranges across batches and a marker", appendStoredFrame(nil, "t", 1, []storedRange{{108, 109, 1}, {111, 112, 1}},
			valuesBatch(t, 100, 0, 10, recordbatch.None), marker, valuesBatch(t, 111, 0, 3, recordbatch.Zstd)),
			[]got{at(1, 100, 108, 1), at(1, 100, 109, 1), at(1, 111, 111, 1), at(1, 111, 112, 1)}},
		{"batches before and after the range, not decoded", appendStoredFrame(nil, "t", 2, []storedRange{{106, 107, 1}},
			valuesBatch(t, 100, 0, 5, recordbatch.None), valuesBatch(t, 105, 0, 5, recordbatch.None), valuesBatch(t, 110, 0, 5, recordbatch.LZ4)),
			[]got{at(2, 105, 106, 1), at(2, 105, 107, 1)}},
		{"a gap before the range: skipping by count would land past it", appendStoredFrame(nil, "t", 0, []storedRange{{105, 106, 1}},
			gappedBatch(100, 0, 2, 3, 4, 5, 6, 7)),
			[]got{at(0, 100, 105, 1), at(0, 100, 106, 1)}},
		{"a gap before the range: fewer records than offsets", appendStoredFrame(nil, "t", 0, []storedRange{{105, 106, 1}},
			gappedBatch(100, 0, 1, 5, 6)),
			[]got{at(0, 100, 105, 1), at(0, 100, 106, 1)}},
		{"two frames", appendStoredFrame(appendStoredFrame(nil, "t", 0, []storedRange{{0, 0, 1}}, valuesBatch(t, 0, 0, 1, recordbatch.None)),
			"t", 2, []storedRange{{5, 5, 4}}, valuesBatch(t, 5, 0, 2, recordbatch.None)),
			[]got{at(0, 0, 0, 1), at(2, 5, 5, 4)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := decodePollStored(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, gotOf(msgs), cmp.AllowUnexported(got{})); diff != "" {
				t.Fatalf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodePollStoredRejects(t *testing.T) {
	ten := valuesBatch(t, 100, 0, 10, recordbatch.None)
	frame := func(ranges []storedRange, batches ...[]byte) []byte {
		return appendStoredFrame(nil, "t", 0, ranges, batches...)
	}
	one := []storedRange{{100, 101, 1}}
	good := frame(one, ten)
	badCRC := slices.Clone(ten)
	badCRC[recordbatch.HeaderLen+2] ^= 1
	hugeRanges := slices.Clone(good)
	binary.BigEndian.PutUint32(hugeRanges[4+2+1:], 1<<30)
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"short header", good[:5]},
		{"range count past the end", hugeRanges},
		{"ranges out of order", frame([]storedRange{{105, 106, 1}, {100, 101, 1}}, ten)},
		{"ranges overlapping", frame([]storedRange{{100, 103, 1}, {103, 104, 1}}, ten)},
		{"first after last", frame([]storedRange{{103, 102, 1}}, ten)},
		{"negative offset", frame([]storedRange{{-1, 101, 1}}, ten)},
		{"range past the batches", frame([]storedRange{{105, 112, 1}}, ten)},
		{"range before the batches", frame([]storedRange{{90, 100, 1}}, ten)},
		{"range in a gap between batches", frame([]storedRange{{100, 100, 1}, {120, 120, 1}}, ten, valuesBatch(t, 121, 0, 2, recordbatch.None))},
		{"batches out of order", frame(one, ten, valuesBatch(t, 50, 0, 2, recordbatch.None))},
		{"the same batch twice", frame(one, ten, ten)},
		{"bad CRC", frame(one, badCRC)},
		{"batch count past the end", good[:len(good)-len(ten)-4]},
		{"batch cut short", good[:len(good)-1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := decodePollStored(tc.body)
			if !errors.Is(err, errPollBatches) {
				t.Fatalf("got %d messages, error %v; want errPollBatches", len(msgs), err)
			}
		})
	}
}

// FuzzDecodePollStored feeds arbitrary answers to the decoder of stored
// batches: it must never panic and fail only with errPollBatches; what it
// hands out lies in the answer's ranges, ascending per frame, and survives
// a round trip through the format's encoder.
func FuzzDecodePollStored(f *testing.F) {
	f.Add([]byte{})
	f.Add(appendStoredFrame(nil, "t", 3, []storedRange{{102, 104, 1}, {107, 107, 3}}, valuesBatch(f, 100, 0, 10, recordbatch.None)))
	f.Add(appendStoredFrame(nil, "t", 0, []storedRange{{105, 106, 2}}, valuesBatch(f, 100, 5, 3, recordbatch.None)))
	f.Add(appendStoredFrame(nil, "u", 1, []storedRange{{200, 201, 1}}, valuesBatch(f, 200, 0, 4, recordbatch.Snappy)))
	f.Add(appendStoredFrame(nil, "t", 2, []storedRange{{106, 107, 1}},
		valuesBatch(f, 100, 0, 5, recordbatch.None), valuesBatch(f, 105, 0, 5, recordbatch.None), valuesBatch(f, 110, 0, 5, recordbatch.None)))
	f.Add(appendStoredFrame(nil, "t", 0, []storedRange{{105, 106, 1}}, gappedBatch(100, 0, 2, 3, 4, 5, 6, 7)))
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, err := decodePollStored(body)
		// What the walk of every record accepts, the skipping walk gives
		// alike (it may accept more: records it does not decode).
		if ref, refErr := decodeStored(body, false); refErr == nil {
			if err != nil {
				t.Fatalf("skipping walk refused what the full walk took: %v", err)
			}
			if diff := cmp.Diff(ref, msgs, cmpopts.IgnoreUnexported(Message{}), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("skipping walk (-full +skipping):\n%s", diff)
			}
		}
		if err != nil {
			if !errors.Is(err, errPollBatches) {
				t.Fatalf("error outside errPollBatches: %v", err)
			}
			return
		}
		var again []byte
		for i, m := range msgs {
			if i > 0 && msgs[i-1].Partition == m.Partition && msgs[i-1].Topic == m.Topic && msgs[i-1].Offset >= m.Offset {
				t.Fatalf("offset %d after %d", m.Offset, msgs[i-1].Offset)
			}
			again = appendStoredFrame(again, m.Topic, m.Partition, []storedRange{{m.Offset, m.Offset, m.DeliveryCount}}, batchOf(m))
		}
		back, err := decodePollStored(again)
		if err != nil {
			t.Fatalf("re-encoded answer does not decode: %v", err)
		}
		if diff := cmp.Diff(msgs, back, cmpopts.IgnoreUnexported(Message{}), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// batchOf is m alone in a batch at its offset, its value as plain bytes.
func batchOf(m *Message) []byte {
	r := kmsg.Record{Key: m.Key, Value: m.Value}
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		r.Headers = append(r.Headers, kmsg.Header{Key: k, Value: []byte(m.Headers[k])})
	}
	return kmsgBatch(m.Offset, m.Timestamp.UnixMilli(), []kmsg.Record{r})
}

// BenchmarkDecodePollStored decodes what a poll of 5,000 messages gets
// when its ranges take the second half of a stored batch of 10,000
// 100-byte records and the first half of the next (the broker serves a
// batch whole to every poll that touches it): walking every record
// against skipping those outside the ranges.
func BenchmarkDecodePollStored(b *testing.B) {
	batch := func(base int64) []byte {
		recs := make([]kmsg.Record, 10_000)
		for i := range recs {
			recs[i] = kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i), Value: make([]byte, 100)}
		}
		return kmsgBatch(base, 1_700_000_000_000, recs)
	}
	body := appendStoredFrame(nil, "t", 0, []storedRange{{7_500, 12_499, 1}}, batch(0), batch(10_000))
	for _, skip := range []bool{false, true} {
		b.Run(map[bool]string{false: "walk-all", true: "skip"}[skip], func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				msgs, err := decodeStored(body, skip)
				if err != nil || len(msgs) != 5_000 {
					b.Fatal(len(msgs), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*5_000), "ns/msg")
		})
	}
}
