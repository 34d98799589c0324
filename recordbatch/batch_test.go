package recordbatch

import (
	"bytes"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"
)

var codecs = []Codec{None, Gzip, Snappy, LZ4, Zstd}

func genRecords(t *rapid.T) []Record {
	n := rapid.IntRange(1, 20).Draw(t, "n")
	recs := make([]Record, n)
	for i := range recs {
		r := &recs[i]
		r.TimestampDelta = rapid.Int64Range(0, 1<<40).Draw(t, "ts")
		if rapid.Bool().Draw(t, "nullkey") {
			r.Key = nil
		} else {
			r.Key = rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "key")
		}
		r.Value = rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "value")
		for range rapid.IntRange(0, 3).Draw(t, "headers") {
			r.Headers = append(r.Headers, RecordHeader{
				Key:   rapid.StringN(0, 10, -1).Draw(t, "hkey"),
				Value: rapid.SliceOfN(rapid.Byte(), 0, 20).Draw(t, "hval"),
			})
		}
	}
	return recs
}

// Our batches, in every codec, validate, decode to what went in, and kmsg
// reads the same header and (after decompression) the same records.
func TestBuildRoundTripAndKmsgReads(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		recs := genRecords(t)
		c := rapid.SampledFrom(codecs).Draw(t, "codec")
		h := Header{BaseOffset: rapid.Int64Range(0, 1<<50).Draw(t, "base"), FirstTimestamp: 1_700_000_000_000,
			ProducerID: rapid.Int64Range(-1, 1000).Draw(t, "pid"), ProducerEpoch: 3, BaseSequence: 7, PartitionLeaderEpoch: -1}
		b, err := Build(nil, h, c, recs)
		if err != nil {
			t.Fatal(err)
		}
		v, err := Validate(b, 1<<20)
		if err != nil {
			t.Fatalf("validate %v batch: %v", c, err)
		}
		if v.Compression() != c || v.NumRecords != int32(len(recs)) || v.ProducerID != h.ProducerID || v.BaseOffset != h.BaseOffset {
			t.Fatalf("header %+v", v.Header)
		}
		got, err := Records(b, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(recs) {
			t.Fatalf("%d records, want %d", len(got), len(recs))
		}
		for i := range recs {
			if !sameRecord(&got[i], &recs[i]) {
				t.Fatalf("record %d: got %+v want %+v", i, got[i], recs[i])
			}
		}
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(b); err != nil {
			t.Fatalf("kmsg: %v", err)
		}
		if kb.FirstOffset != h.BaseOffset || kb.NumRecords != int32(len(recs)) || uint32(kb.CRC) != crc32.Checksum(b[OffAttributes:], castagnoli) {
			t.Fatalf("kmsg header %+v", kb)
		}
		data, err := Decompress(nil, c, kb.Records, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			var kr kmsg.Record
			if err := kr.ReadFrom(data); err != nil {
				t.Fatalf("kmsg record %d: %v", i, err)
			}
			if !bytes.Equal(kr.Value, recs[i].Value) || kr.OffsetDelta != int32(i) || kr.TimestampDelta64 != recs[i].TimestampDelta {
				t.Fatalf("kmsg record %d: %+v", i, kr)
			}
			data = data[AppendRecordLen(&recs[i]):]
		}
	})
}

// Batches kmsg encodes (uncompressed, as kgo sends without compression)
// validate and decode.
func TestKmsgBatchesValidate(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		recs := genRecords(t)
		var raw []byte
		for i, r := range recs {
			kr := kmsg.Record{TimestampDelta64: r.TimestampDelta, OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
			for _, h := range r.Headers {
				kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
			}
			raw = AppendRecord(raw, &Record{TimestampDelta: kr.TimestampDelta64, OffsetDelta: kr.OffsetDelta, Key: kr.Key, Value: kr.Value, Headers: r.Headers})
		}
		kb := kmsg.RecordBatch{Magic: 2, LastOffsetDelta: int32(len(recs) - 1), NumRecords: int32(len(recs)),
			ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, Records: raw}
		b := kb.AppendTo(nil)
		b[OffLength], b[OffLength+1], b[OffLength+2], b[OffLength+3] = 0, 0, 0, 0
		n := len(b) - LengthFieldEnd
		b[OffLength], b[OffLength+1], b[OffLength+2], b[OffLength+3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		SetCRC(b)
		if _, err := Validate(b, 1<<20); err != nil {
			t.Fatalf("validate kmsg batch: %v", err)
		}
	})
}

func TestValidateRefuses(t *testing.T) {
	recs := []Record{{Value: []byte("hello")}, {Value: bytes.Repeat([]byte("x"), 1000)}}
	for _, c := range codecs {
		b, err := Build(nil, Header{}, c, recs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Validate(b, 100); c != None && !errors.Is(err, ErrTooLarge) {
			t.Errorf("%v: decompressing past the limit: %v, want ErrTooLarge", c, err)
		}
		bad := bytes.Clone(b)
		bad[len(bad)-1] ^= 1
		if _, err := Validate(bad, 1<<20); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%v: flipped bit: %v, want ErrCorrupt", c, err)
		}
		bad = bytes.Clone(b)
		bad[OffAttributes+1] = byte(bad[OffAttributes+1]&^7) | 6
		SetCRC(bad)
		if _, err := Validate(bad, 1<<20); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%v: codec 6: %v, want ErrCorrupt", c, err)
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
		x = append(x, byte(len(blk)>>24), byte(len(blk)>>16), byte(len(blk)>>8), byte(len(blk)))
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

func FuzzValidate(f *testing.F) {
	for _, c := range codecs {
		b, _ := Build(nil, Header{FirstTimestamp: 5}, c, []Record{{Key: []byte("k"), Value: []byte("v"), Headers: []RecordHeader{{Key: "h", Value: nil}}}})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= HeaderLen {
			SetCRC(b) // reach past the CRC check
		}
		v, err := Validate(b, 1<<16)
		if err != nil {
			return
		}
		recs, err := Records(b, 1<<16)
		if err != nil || len(recs) != int(v.NumRecords) {
			t.Fatalf("validated batch decodes to %d records: %v", len(recs), err)
		}
	})
}

func sameRecord(a, b *Record) bool {
	if a.TimestampDelta != b.TimestampDelta || !bytes.Equal(a.Key, b.Key) || (a.Key == nil) != (b.Key == nil) ||
		!bytes.Equal(a.Value, b.Value) || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i].Key != b.Headers[i].Key || !bytes.Equal(a.Headers[i].Value, b.Headers[i].Value) {
			return false
		}
	}
	return true
}

// AppendRecordLen is the encoded size of r, length prefix included.
func AppendRecordLen(r *Record) int { return len(AppendRecord(nil, r)) }
