package coordinator

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// testBatch is a stored batch of n records at base, value "v<offset>" each,
// of size bytes of value, compressed with c, indexed as a read would.
func testBatch(t *testing.T, base int64, n, size int, c recordbatch.Codec) *storedBatch {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		v := fmt.Appendf(nil, "v%d", base+int64(i))
		recs[i] = recordbatch.Record{TimestampDelta: int64(i), Value: append(v, make([]byte, max(size-len(v), 0))...)}
	}
	raw, err := recordbatch.Build(nil, recordbatch.NewHeader(base), c, recs)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := indexBatch(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// servedOffsets checks each served batch (CRC, records) and returns the
// offsets its records are at.
func servedOffsets(t *testing.T, batches []ServedBatch) []int64 {
	t.Helper()
	var offs []int64
	for _, sb := range batches {
		b := append(slices.Clip(sb.Head), sb.Body...)
		h, err := recordbatch.CheckFrame(b)
		if err != nil {
			t.Fatalf("served batch: %v", err)
		}
		it, err := recordbatch.NewIter(b, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		var v recordbatch.View
		for it.Next(&v) {
			off := h.BaseOffset + int64(v.OffsetDelta)
			if want := fmt.Sprintf("v%d", off); string(v.Value[:len(want)]) != want {
				t.Fatalf("record at %d has value %.8q", off, v.Value)
			}
			offs = append(offs, off)
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return offs
}

// offsetsOf lists first..last of each span.
func offsetsOf(spans ...[2]int64) []int64 {
	var out []int64
	for _, s := range spans {
		for o := s[0]; o <= s[1]; o++ {
			out = append(out, o)
		}
	}
	return out
}

// A batch goes out as stored when the answer takes all of it, or (if it is
// compressed) a quarter; otherwise as slices of just the records taken,
// split where the answer skips more than sliceGap bytes.
func TestAppendServed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int // records of 100 bytes at offset 1000
		codec  recordbatch.Codec
		ranges [][2]int64
		raw    bool    // served as stored
		want   []int64 // the served batches' offsets
	}{
		{"whole batch", 50, recordbatch.None, [][2]int64{{1000, 1049}}, true, offsetsOf([2]int64{1000, 1049})},
		{"ranges past both ends", 50, recordbatch.None, [][2]int64{{900, 2000}}, true, offsetsOf([2]int64{1000, 1049})},
		{"one redelivery in the middle", 500, recordbatch.None, [][2]int64{{1250, 1250}}, false, []int64{1250}},
		{"a head", 500, recordbatch.None, [][2]int64{{1000, 1099}}, false, offsetsOf([2]int64{1000, 1099})},
		{"a tail", 500, recordbatch.None, [][2]int64{{1400, 1499}}, false, offsetsOf([2]int64{1400, 1499})},
		{"near ranges share a slice", 500, recordbatch.None, [][2]int64{{1010, 1010}, {1012, 1020}}, false, offsetsOf([2]int64{1010, 1020})},
		{"far ranges are two slices", 500, recordbatch.None, [][2]int64{{1010, 1010}, {1400, 1401}}, false, []int64{1010, 1400, 1401}},
		{"compressed, most taken", 100, recordbatch.Snappy, [][2]int64{{1010, 1060}}, true, offsetsOf([2]int64{1000, 1099})},
		{"compressed, little taken", 100, recordbatch.Snappy, [][2]int64{{1050, 1052}}, false, offsetsOf([2]int64{1050, 1052})},
		{"compressed, whole", 100, recordbatch.Zstd, [][2]int64{{1000, 1099}}, true, offsetsOf([2]int64{1000, 1099})},
		{"no range in it", 100, recordbatch.None, [][2]int64{{2000, 2001}}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testBatch(t, 1000, tc.n, 100, tc.codec)
			var ranges []StoredRange
			for _, r := range tc.ranges {
				ranges = append(ranges, StoredRange{First: r[0], Last: r[1], DeliveryCount: 1})
			}
			got := appendServed(nil, b, ranges)
			if raw := len(got) == 1 && got[0].Head == nil && &got[0].Body[0] == &b.raw[0]; raw != tc.raw {
				t.Errorf("served as stored: %v, want %v", raw, tc.raw)
			}
			if offs := servedOffsets(t, got); !slices.Equal(offs, tc.want) {
				t.Errorf("served offsets %v, want %v", offs, tc.want)
			}
		})
	}
}

// The sink merges what a poll handed out into ascending ranges per
// partition, a redelivery before new messages included, and serves each
// batch once though the poll read it twice.
func TestStoredSinkAnswer(t *testing.T) {
	tp := delivery.TP{Topic: "t", Partition: 2}
	b1, b1again, b2 := testBatch(t, 0, 10, 10, recordbatch.None), testBatch(t, 0, 10, 10, recordbatch.None), testBatch(t, 10, 10, 10, recordbatch.None)
	var s storedSink
	s.add(tp, b1, 4, 2) // a redelivery
	for off := int64(5); off < 10; off++ {
		s.add(tp, b1again, off, 1)
	}
	for off := int64(10); off < 15; off++ {
		s.add(tp, b2, off, 1)
	}
	other := delivery.TP{Topic: "u", Partition: 0}
	s.add(other, testBatch(t, 7, 1, 10, recordbatch.None), 7, 3)
	got := s.answer()
	if s.len() != 12 || len(got) != 2 {
		t.Fatalf("%d messages in %d parts", s.len(), len(got))
	}
	want := []StoredRange{{4, 4, 2}, {5, 14, 1}}
	if !slices.Equal(got[0].Ranges, want) || got[0].Topic != "t" || got[0].Partition != 2 {
		t.Fatalf("part %s/%d ranges %v, want %v", got[0].Topic, got[0].Partition, got[0].Ranges, want)
	}
	if offs := servedOffsets(t, got[0].Batches); !slices.Equal(offs, offsetsOf([2]int64{4, 14})) {
		t.Fatalf("served offsets %v", offs)
	}
	if !slices.Equal(got[1].Ranges, []StoredRange{{7, 7, 3}}) {
		t.Fatalf("second part %v", got[1].Ranges)
	}
}

// PollStored hands out what Poll would: a group polled through each gets
// the same offsets and delivery counts, and a DLQ replay for another group
// is settled, not handed out.
func TestPollStoredMatchesPoll(t *testing.T) {
	c, tb := openTest(t, nil)
	tb.createTopic("t", 2)
	var vals [][]byte
	for i := range 300 {
		vals = append(vals, fmt.Appendf(nil, "m%d", i))
	}
	tb.publish("t", 0, vals...)
	tb.publish("t", 1, vals[:7]...)
	join := func(g string) JoinResult {
		j, err := c.JoinGroup(g, JoinParams{Topics: []string{"t"}}, "h")
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	ja, jb := join("a"), join("b")
	type got struct {
		tp    delivery.TP
		off   int64
		count int
	}
	var viaPoll, viaStored []got
	for range 4 {
		ds, err := c.Poll(context.Background(), "a", PollParams{MemberID: ja.MemberID, Generation: ja.Generation, MaxMessages: 100}, "h")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			viaPoll = append(viaPoll, got{delivery.TP{Topic: d.Topic, Partition: d.Partition}, d.Record.Offset, d.DeliveryCount})
		}
		parts, err := c.PollStored(context.Background(), "b", PollParams{MemberID: jb.MemberID, Generation: jb.Generation, MaxMessages: 100}, "h")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			for _, r := range p.Ranges {
				for off := r.First; off <= r.Last; off++ {
					viaStored = append(viaStored, got{delivery.TP{Topic: p.Topic, Partition: p.Partition}, off, r.DeliveryCount})
				}
			}
		}
	}
	order := func(a, b got) int {
		if a.tp.Partition != b.tp.Partition {
			return int(a.tp.Partition - b.tp.Partition)
		}
		return cmpInt64(a.off, b.off)
	}
	slices.SortFunc(viaPoll, order)
	slices.SortFunc(viaStored, order)
	if len(viaPoll) != 307 || !slices.Equal(viaPoll, viaStored) {
		t.Fatalf("Poll handed out %d, PollStored %d; they differ: %v", len(viaPoll), len(viaStored), !slices.Equal(viaPoll, viaStored))
	}
}

// A record a DLQ replay wrote for another group is in the index, and a
// stored poll settles it instead of handing it out.
func TestIndexNotesReplays(t *testing.T) {
	recs := []recordbatch.Record{
		{Value: []byte("plain")},
		{Value: []byte("mine"), Headers: []recordbatch.RecordHeader{{Key: api.ReplayHeaderGroup, Value: []byte("g")}}},
		{Value: []byte("theirs"), Headers: []recordbatch.RecordHeader{{Key: "x", Value: []byte("1")}, {Key: api.ReplayHeaderGroup, Value: []byte("other")}}},
	}
	raw, err := recordbatch.Build(nil, recordbatch.NewHeader(40), recordbatch.None, recs)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := indexBatch(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	for off, want := range map[int64]bool{40: false, 41: false, 42: true} {
		if got := b.replayedForOther(off, "g"); got != want {
			t.Errorf("offset %d replayed for another group: %v, want %v", off, got, want)
		}
	}
	if got, want := b.size(42), len("theirs")+len("x1")+len(api.ReplayHeaderGroup)+len("other"); got != want {
		t.Errorf("size %d, want %d", got, want)
	}
	if r := b.record(42); string(r.Value) != "theirs" || r.Offset != 42 || len(r.Headers) != 2 {
		t.Errorf("record 42 = %+v", r)
	}
}
