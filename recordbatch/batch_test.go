package recordbatch

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"
)

var codecs = []Codec{None, Gzip, Snappy, LZ4, Zstd}

func genRecords(t *rapid.T) []Record {
	n := rapid.IntRange(1, 20).Draw(t, "n")
	recs := make([]Record, n)
	for i := range recs {
		r := &recs[i]
		r.Attributes = rapid.Int8().Draw(t, "attrs")
		r.TimestampDelta = rapid.Int64Range(-1<<40, 1<<40).Draw(t, "ts")
		r.Key = genNullable(t, "key", 40)
		r.Value = genNullable(t, "value", 300)
		for range rapid.IntRange(0, 3).Draw(t, "headers") {
			r.Headers = append(r.Headers, RecordHeader{
				Key:   rapid.StringN(0, 10, -1).Draw(t, "hkey"),
				Value: genNullable(t, "hval", 20),
			})
		}
	}
	return recs
}

// genNullable draws nil, empty or some bytes: the three the format tells apart.
func genNullable(t *rapid.T, label string, max int) []byte {
	if rapid.IntRange(0, 4).Draw(t, label+"-null") == 0 {
		return nil
	}
	return rapid.SliceOfN(rapid.Byte(), 0, max).Draw(t, label)
}

func genHeader(t *rapid.T) Header {
	return Header{
		BaseOffset:           rapid.Int64Range(0, 1<<50).Draw(t, "base"),
		PartitionLeaderEpoch: rapid.Int32().Draw(t, "epoch"),
		Attributes:           rapid.SampledFrom([]int16{0, attrTimestampType, attrTransactional}).Draw(t, "battrs"),
		FirstTimestamp:       rapid.Int64Range(0, 1<<42).Draw(t, "first"),
		MaxTimestamp:         rapid.Int64Range(0, 1<<42).Draw(t, "max"),
		ProducerID:           rapid.Int64Range(-1, 1000).Draw(t, "pid"),
		ProducerEpoch:        rapid.Int16Range(-1, 100).Draw(t, "pepoch"),
		BaseSequence:         rapid.Int32Range(-1, 1<<30).Draw(t, "seq"),
	}
}

// genBatch draws records, a codec and a header, and builds their batch.
func genBatch(t *rapid.T) ([]Record, Codec, Header, []byte) {
	recs := genRecords(t)
	c := rapid.SampledFrom(codecs).Draw(t, "codec")
	h := genHeader(t)
	b, err := Build(nil, h, c, recs)
	if err != nil {
		t.Fatal(err)
	}
	return recs, c, h, b
}

// tb is what both *testing.T and *rapid.T offer.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// decodeAll validates b and returns its header and records, as Records.
func decodeAll(t tb, b []byte) (Valid, []Record) {
	t.Helper()
	v, err := Validate(b, 1<<20)
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	it, err := NewIter(b, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	var rv View
	for it.Next(&rv) {
		recs = append(recs, Record{Attributes: rv.Attributes, TimestampDelta: rv.TimestampDelta, OffsetDelta: rv.OffsetDelta,
			Key: rv.Key, Value: rv.Value, Headers: rv.AppendHeaders(nil)})
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return v, recs
}

// cmpRecords tells nil from empty, as the format does.
var cmpRecords = cmp.Options{cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) && (a == nil) == (b == nil) })}

// Every batch Build makes, in every codec, validates with the header given
// and decodes to the records that went in. Uncompressed, Builder makes the
// same bytes record by record.
func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		recs, c, h, b := genBatch(t)
		v, got := decodeAll(t, b)
		want := h
		want.Length, want.Magic, want.CRC = int32(len(b)-LengthFieldEnd), Magic, crc32.Checksum(b[OffAttributes:], castagnoli)
		want.Attributes |= int16(c)
		want.LastOffsetDelta, want.NumRecords = int32(len(recs)-1), int32(len(recs))
		if v.Header != want {
			t.Fatalf("header %+v, want %+v", v.Header, want)
		}
		if diff := cmp.Diff(recs, got, cmpRecords); diff != "" {
			t.Fatalf("records (-want +got):\n%s", diff)
		}
		if c != None {
			return
		}
		var bl Builder
		bl.Reset([]byte("prefix"))
		for _, r := range recs {
			bl.Add(r.Attributes, h.FirstTimestamp+r.TimestampDelta, r.Key, r.Value, r.Headers)
		}
		bh := h
		bh.FirstTimestamp = h.FirstTimestamp + recs[0].TimestampDelta
		bh.MaxTimestamp = bh.FirstTimestamp
		for _, r := range recs {
			bh.MaxTimestamp = max(bh.MaxTimestamp, h.FirstTimestamp+r.TimestampDelta)
		}
		d0 := recs[0].TimestampDelta
		for i := range recs {
			recs[i].TimestampDelta -= d0
		}
		again, _ := Build([]byte("prefix"), bh, None, recs)
		if got := bl.Finish(h); !bytes.Equal(got, again) || bl.Len() != len(again)-len("prefix") || bl.NumRecords() != int32(len(recs)) {
			t.Fatalf("Builder made %x\nBuild made   %x", got, again)
		}
	})
}

// kmsg reads the header and, decompressed by the codec libraries directly,
// the records of every batch we build.
func TestKmsgReadsOurBatches(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		recs, c, h, b := genBatch(t)
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(b); err != nil {
			t.Fatalf("kmsg: %v", err)
		}
		if kb.FirstOffset != h.BaseOffset || kb.NumRecords != int32(len(recs)) || kb.ProducerID != h.ProducerID ||
			kb.FirstSequence != h.BaseSequence || kb.Attributes&7 != int16(c) || int(kb.Length) != len(b)-LengthFieldEnd ||
			uint32(kb.CRC) != crc32.Checksum(b[OffAttributes:], crc32.MakeTable(crc32.Castagnoli)) {
			t.Fatalf("kmsg header %+v", kb)
		}
		data := libDecompress(t, c, kb.Records)
		for i := range recs {
			var kr kmsg.Record
			n, k := binary.Varint(data)
			if k <= 0 || int(n) > len(data)-k {
				t.Fatalf("record %d: bad length", i)
			}
			if err := kr.ReadFrom(data[:k+int(n)]); err != nil {
				t.Fatalf("kmsg record %d: %v", i, err)
			}
			data = data[k+int(n):]
			if diff := cmp.Diff(recs[i], fromKmsg(&kr), cmpRecords); diff != "" {
				t.Fatalf("record %d (-ours +kmsg):\n%s", i, diff)
			}
		}
		if len(data) != 0 {
			t.Fatalf("%d bytes after the records", len(data))
		}
	})
}

// We validate and decode batches kmsg encodes, their records compressed by
// the codec libraries directly.
func TestWeReadKmsgBatches(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		recs := genRecords(t)
		c := rapid.SampledFrom(codecs).Draw(t, "codec")
		var raw []byte
		for i := range recs {
			recs[i].OffsetDelta = int32(i)
			raw = toKmsg(&recs[i]).AppendTo(raw)
		}
		b := kmsgBatch(kmsg.RecordBatch{FirstOffset: 9, PartitionLeaderEpoch: -1, Attributes: int16(c), LastOffsetDelta: int32(len(recs) - 1),
			FirstTimestamp: 1_700_000_000_000, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(len(recs)),
			Records: libCompress(t, c, raw)})
		v, got := decodeAll(t, b)
		if v.BaseOffset != 9 || v.Compression() != c || v.FirstTimestamp != 1_700_000_000_000 {
			t.Fatalf("header %+v", v.Header)
		}
		if diff := cmp.Diff(recs, got, cmpRecords); diff != "" {
			t.Fatalf("records (-kmsg +ours):\n%s", diff)
		}
	})
}

// The bytes the three encoders this package replaced (the commitlog's, the
// producer's and the binary poll answer's) made for the same records.
func TestGoldenBytes(t *testing.T) {
	add := func(b *Builder, attrs int8) {
		b.Add(attrs, 1700000000100, []byte("k"), []byte("v"), []RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "nil"}})
		b.Add(0, 1700000000050, nil, []byte{}, nil)
		b.Add(0, 1700000000300, []byte{}, nil, nil)
	}
	tests := []struct {
		name  string
		base  int64
		attrs int8
		want  string
	}{
		{"commitlog and poll answer", 1234, 1, "00000000000004d200000052ffffffff020a8f11140000000000020000018bcfe568640000018bcfe5692cffffffffffffffffffffffffffff0000000322010000026b02760402610231066e696c010c0063020100000e00900304000100"},
		{"producer", 0, 0, "000000000000000000000052ffffffff023729c1df0000000000020000018bcfe568640000018bcfe5692cffffffffffffffffffffffffffff0000000322000000026b02760402610231066e696c010c0063020100000e00900304000100"},
	}
	for _, tt := range tests {
		var b Builder
		b.Reset(nil)
		add(&b, tt.attrs)
		if got := hex.EncodeToString(b.Finish(NewHeader(tt.base))); got != tt.want {
			t.Errorf("%s:\ngot  %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

// A transaction marker is a control batch kmsg reads as one, with the
// marker's key and value; we recognise one kmsg builds.
func TestControlBatches(t *testing.T) {
	for _, typ := range []ControlType{ControlAbort, ControlCommit} {
		b := BuildMarker(nil, Header{BaseOffset: 5, PartitionLeaderEpoch: 2, ProducerID: 42, ProducerEpoch: 3, BaseSequence: -1}, typ, 17, 1_700_000_000_000)
		v, recs := decodeAll(t, b)
		if !v.Control() || !v.Transactional() || v.ProducerID != 42 || v.NumRecords != 1 || len(recs) != 1 {
			t.Fatalf("%v marker: header %+v, %d records", typ, v.Header, len(recs))
		}
		if got, err := ParseControlKey(recs[0].Key); err != nil || got != typ {
			t.Fatalf("%v marker: key says %v, %v", typ, got, err)
		}
		var key kmsg.ControlRecordKey
		var val kmsg.EndTxnMarker
		if err := key.ReadFrom(recs[0].Key); err != nil || key.Type != kmsg.ControlRecordKeyType(typ) {
			t.Fatalf("kmsg reads the key as %+v, %v", key, err)
		}
		if err := val.ReadFrom(recs[0].Value); err != nil || val.CoordinatorEpoch != 17 {
			t.Fatalf("kmsg reads the value as %+v, %v", val, err)
		}

		kkey := (&kmsg.ControlRecordKey{Type: kmsg.ControlRecordKeyType(typ)}).AppendTo(nil)
		kval := (&kmsg.EndTxnMarker{CoordinatorEpoch: 17}).AppendTo(nil)
		raw := toKmsg(&Record{Key: kkey, Value: kval}).AppendTo(nil)
		kb := kmsgBatch(kmsg.RecordBatch{Attributes: attrTransactional | attrControl, NumRecords: 1, ProducerID: 42, Records: raw})
		v, recs = decodeAll(t, kb)
		if got, err := ParseControlKey(recs[0].Key); !v.Control() || err != nil || got != typ {
			t.Fatalf("kmsg's %v marker: control %v, key %v, %v", typ, v.Control(), got, err)
		}
	}
	if _, err := ParseControlKey([]byte{0, 1, 0, 0}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("control key version 1: %v", err)
	}
	if _, err := ParseControlKey([]byte{0, 0, 0}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short control key: %v", err)
	}
}

func TestValidateRefuses(t *testing.T) {
	good, _ := Build(nil, NewHeader(0), None, []Record{{Key: []byte("key"), Value: []byte("value")}, {Value: []byte("v2"), TimestampDelta: 1}})
	put32 := func(at int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint32(b[at:], v); return b }
	}
	tests := []struct {
		name   string
		fixCRC bool
		f      func(b []byte) []byte
	}{
		{"empty", false, func([]byte) []byte { return nil }},
		{"short header", false, func(b []byte) []byte { return b[:40] }},
		{"truncated", false, func(b []byte) []byte { return b[:len(b)-1] }},
		{"trailing byte", false, func(b []byte) []byte { return append(b, 0) }},
		{"length too small", false, put32(OffLength, 10)},
		{"negative length", false, put32(OffLength, 0xffffffff)},
		{"magic 1", true, func(b []byte) []byte { b[OffMagic] = 1; return b }},
		{"flipped value byte", false, func(b []byte) []byte { b[len(b)-3] ^= 1; return b }},
		{"flipped crc", false, func(b []byte) []byte { b[OffCRC] ^= 0x80; return b }},
		{"gzip flag on plain records", true, func(b []byte) []byte { b[OffAttributes+1] |= 1; return b }},
		{"unknown codec", true, func(b []byte) []byte { b[OffAttributes+1] |= 6; return b }},
		{"count too high", true, func(b []byte) []byte { return put32(OffLastOffsetDelta, 2)(put32(OffRecordCount, 3)(b)) }},
		{"count too low", true, func(b []byte) []byte { return put32(OffLastOffsetDelta, 0)(put32(OffRecordCount, 1)(b)) }},
		{"last delta mismatch", true, put32(OffLastOffsetDelta, 5)},
		{"zero records", true, func(b []byte) []byte {
			b = put32(OffLength, HeaderLen-LengthFieldEnd)(b[:HeaderLen])
			return put32(OffLastOffsetDelta, 0xffffffff)(put32(OffRecordCount, 0)(b))
		}},
		// The first record's offset delta (after its length, attributes and
		// timestamp delta, a byte each) becomes 1.
		{"offset delta out of order", true, func(b []byte) []byte { b[HeaderLen+3] = 2; return b }},
		{"negative base offset", false, func(b []byte) []byte { binary.BigEndian.PutUint64(b, 1<<63); return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.f(bytes.Clone(good))
			if tt.fixCRC {
				SetCRC(b)
			}
			if _, err := Validate(b, 1<<20); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Validate = %v, want ErrCorrupt", err)
			}
		})
	}

	moved := bytes.Clone(good)
	SetBaseOffset(moved, 77)
	if v, err := Validate(moved, 1<<20); err != nil || v.BaseOffset != 77 || BaseOffset(moved) != 77 {
		t.Errorf("the base offset is outside the CRC: %+v, %v", v, err)
	}

	recs := []Record{{Value: []byte("hello")}, {Value: bytes.Repeat([]byte("x"), 1000)}}
	for _, c := range codecs {
		b, err := Build(nil, Header{}, c, recs)
		if err != nil {
			t.Fatal(err)
		}
		if c == None {
			continue // the limit bounds decompression; the caller bounds batches
		}
		if _, err := Validate(b, 100); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%v: decompressing past the limit: %v, want ErrTooLarge", c, err)
		}
		bad := bytes.Clone(b)
		bad[len(bad)-1] ^= 1
		SetCRC(bad)
		if _, err := Validate(bad, 1<<20); err == nil {
			t.Errorf("%v: damaged compressed data validates", c)
		}
	}
}

// The Java client frames snappy data in xerial chunks.
func TestXerialSnappy(t *testing.T) {
	data := bytes.Repeat([]byte("kafka "), 500)
	var x []byte
	x = append(x, xerialMagic...)
	x = append(x, 0, 0, 0, 1, 0, 0, 0, 1)
	for _, part := range [][]byte{data[:1000], data[1000:]} {
		blk, _ := Compress(nil, Snappy, part)
		x = binary.BigEndian.AppendUint32(x, uint32(len(blk)))
		x = append(x, blk...)
	}
	got, err := Decompress(nil, Snappy, x, 1<<20)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("xerial: %v, equal %v", err, bytes.Equal(got, data))
	}
	if _, err := Decompress(nil, Snappy, x, 2000); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("xerial past limit: %v", err)
	}
}

// The hot paths allocate nothing: building an uncompressed batch in a
// reused buffer, validating it and walking its records and headers.
func TestHotPathsDoNotAllocate(t *testing.T) {
	hs := []RecordHeader{{Key: "trace", Value: []byte("abc")}}
	buf := make([]byte, 0, 64<<10)
	var b Builder
	var batch []byte
	build := func() {
		b.Reset(buf[:0])
		for i := range 100 {
			b.Add(0, int64(1000+i), nil, make100, hs)
		}
		batch = b.Finish(NewHeader(0))
	}
	if n := testing.AllocsPerRun(20, build); n != 0 {
		t.Errorf("building: %v allocations", n)
	}
	if n := testing.AllocsPerRun(20, func() {
		if _, err := Validate(batch, 1<<20); err != nil {
			t.Fatal(err)
		}
		it, _ := NewIter(batch, 1<<20)
		var v View
		for it.Next(&v) {
			for h := v.Headers(); ; {
				if _, _, ok := h.Next(); !ok {
					break
				}
			}
		}
	}); n != 0 {
		t.Errorf("validating and decoding: %v allocations", n)
	}
}

var make100 = bytes.Repeat([]byte("x"), 100)

// FuzzValidate: the decoder never panics, never accepts a batch whose CRC
// does not match, and what it accepts decodes to exactly its record count
// with offset deltas 0..n-1, and builds again into a batch that decodes the
// same.
func FuzzValidate(f *testing.F) {
	for _, c := range codecs {
		b, _ := Build(nil, Header{FirstTimestamp: 5}, c, []Record{{Key: []byte("k"), Value: []byte("v"), Headers: []RecordHeader{{Key: "h"}}}, {TimestampDelta: -3}})
		f.Add(b, true)
	}
	f.Add(BuildMarker(nil, NewHeader(3), ControlCommit, 1, 9), false)
	f.Fuzz(func(t *testing.T, b []byte, fixCRC bool) {
		if fixCRC && len(b) >= HeaderLen {
			SetCRC(b) // reach past the CRC check
		}
		v, err := Validate(b, 1<<16)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error outside ErrCorrupt and ErrTooLarge: %v", err)
			}
			return
		}
		if binary.BigEndian.Uint32(b[OffCRC:]) != crc32.Checksum(b[OffAttributes:], castagnoli) {
			t.Fatal("accepted a batch with a bad CRC")
		}
		_, recs := decodeAll(t, b)
		if len(recs) != int(v.NumRecords) {
			t.Fatalf("%d records, header says %d", len(recs), v.NumRecords)
		}
		again, err := Build(nil, v.Header, v.Compression(), recs)
		if err != nil {
			t.Fatal(err)
		}
		if _, back := decodeAll(t, again); !cmp.Equal(recs, back, cmpRecords) {
			t.Fatalf("built again, decodes to %+v, want %+v", back, recs)
		}
	})
}

// FuzzIterSkip: skipping n records and decoding the next gives the record
// that decoding n+1 gives, wherever decoding succeeds; Skip never panics
// on what it is given.
func FuzzIterSkip(f *testing.F) {
	for _, c := range codecs {
		b, _ := Build(nil, Header{FirstTimestamp: 5}, c, []Record{{Key: []byte("k"), Value: []byte("v"), Headers: []RecordHeader{{Key: "h"}}}, {TimestampDelta: -3}, {Value: []byte("third")}})
		f.Add(b, uint8(1))
		f.Add(b, uint8(2))
	}
	f.Fuzz(func(t *testing.T, b []byte, n uint8) {
		it, err := NewIter(b, 1<<16)
		if err != nil {
			return
		}
		slow := it
		var want View
		decoded := true
		for range int(n) + 1 {
			if !slow.Next(&want) {
				decoded = false
				break
			}
		}
		fast := it
		skipped := fast.Skip(int(n))
		if !decoded {
			return
		}
		var got View
		if !skipped || !fast.Next(&got) {
			t.Fatalf("skip %d: %v, then next: %v; decoding got there", n, skipped, fast.Err())
		}
		if got.OffsetDelta != want.OffsetDelta || got.TimestampDelta != want.TimestampDelta ||
			!bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Value, want.Value) {
			t.Fatalf("after skipping %d: %+v, decoding gives %+v", n, got, want)
		}
	})
}

// Validate finds a batch's smallest and largest record timestamps from the
// records themselves, wherever they are in the batch (a broker bounds a
// batch's timestamps by them).
func TestValidateTimestampsSeen(t *testing.T) {
	var b Builder
	b.Reset(nil)
	for _, ts := range []int64{5000, 3000, 9000, 4000} {
		b.Add(0, ts, nil, []byte("v"), nil)
	}
	v, err := Validate(b.Finish(Header{}), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if v.MinTimestampSeen != 3000 || v.MaxTimestampSeen != 9000 {
		t.Fatalf("timestamps seen %d..%d, want 3000..9000", v.MinTimestampSeen, v.MaxTimestampSeen)
	}
	// -1, Kafka's "no timestamp", is not the smallest; alone, it is.
	for _, c := range []struct {
		ts       []int64
		min, max int64
	}{{[]int64{-1, 7000, -1}, 7000, 7000}, {[]int64{-1, -1}, -1, -1}} {
		b.Reset(nil)
		for _, ts := range c.ts {
			b.Add(0, ts, nil, []byte("v"), nil)
		}
		v, err := Validate(b.Finish(Header{}), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if v.MinTimestampSeen != c.min || v.MaxTimestampSeen != c.max {
			t.Fatalf("%v: timestamps seen %d..%d, want %d..%d", c.ts, v.MinTimestampSeen, v.MaxTimestampSeen, c.min, c.max)
		}
	}
}

// SetControl sets and clears the control bit and reseals the CRC: the
// batch checks either way.
func TestSetControl(t *testing.T) {
	var bld Builder
	bld.Reset(nil)
	bld.Add(0, 1, []byte("k"), []byte("v"), nil)
	b := bld.Finish(NewHeader(0))
	for _, on := range []bool{true, false} {
		SetControl(b, on)
		h, err := CheckFrame(b)
		if err != nil || h.Control() != on {
			t.Fatalf("SetControl(%v): control %v, %v", on, h.Control(), err)
		}
	}
}

// AppendEmpty makes a well-formed batch of no records whose next offset is
// past its span.
func TestAppendEmpty(t *testing.T) {
	b := AppendEmpty([]byte("x"), 12, 4, 1000)[1:]
	h, err := CheckFrame(b)
	if err != nil || h.NumRecords != 0 || h.BaseOffset != 12 || h.NextOffset() != 16 || h.MaxTimestamp != 1000 || len(b) != HeaderLen {
		t.Fatalf("empty batch %+v, %v", h, err)
	}
}
