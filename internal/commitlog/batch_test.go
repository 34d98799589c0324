package commitlog

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafkaDecode decodes a batch with kmsg, independently of this package's
// decoder, so the encoding is checked against Kafka's reading of it.
func kafkaDecode(t *testing.T, b []byte) (kmsg.RecordBatch, []kmsg.Record) {
	t.Helper()
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatalf("kmsg RecordBatch.ReadFrom: %v", err)
	}
	var recs []kmsg.Record
	p := rb.Records
	for range rb.NumRecords {
		n, k := binary.Varint(p)
		var r kmsg.Record
		if err := r.ReadFrom(p[:k+int(n)]); err != nil {
			t.Fatalf("kmsg Record.ReadFrom: %v", err)
		}
		recs = append(recs, r)
		p = p[k+int(n):]
	}
	if len(p) != 0 {
		t.Fatalf("%d bytes after the records", len(p))
	}
	return rb, recs
}

func TestEncodeIsKafkaRecordBatchV2(t *testing.T) {
	tests := []struct {
		name string
		recs []Record
	}{
		{"one", []Record{{Key: []byte("k"), Value: []byte("v"), Timestamp: 1000}}},
		{"nil key empty value", []Record{{Value: []byte{}, Timestamp: 5}}},
		{"headers and attributes", []Record{{Value: []byte("x"), Timestamp: 7, Attributes: 1,
			Headers: []Header{{Key: "a", Value: []byte("1")}, {Key: "nil", Value: nil}}}}},
		{"timestamps going back", []Record{{Timestamp: 100}, {Timestamp: 50}, {Timestamp: 200}, {Timestamp: 150}}},
		{"large value", []Record{{Value: make([]byte, 70000), Timestamp: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e encoder
			b, info := e.encode(1234, tt.recs)
			rb, krecs := kafkaDecode(t, b)
			maxTS := tt.recs[0].Timestamp
			for _, r := range tt.recs {
				maxTS = max(maxTS, r.Timestamp)
			}
			if rb.FirstOffset != 1234 || rb.Magic != 2 || rb.Attributes != 0 || int(rb.NumRecords) != len(tt.recs) ||
				int(rb.LastOffsetDelta) != len(tt.recs)-1 || rb.FirstTimestamp != tt.recs[0].Timestamp ||
				rb.MaxTimestamp != maxTS || int(rb.Length) != len(b)-12 || rb.ProducerID != -1 {
				t.Fatalf("header = %+v", rb)
			}
			if crc := crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)); uint32(rb.CRC) != crc {
				t.Fatalf("crc %08x, want %08x", uint32(rb.CRC), crc)
			}
			for i, kr := range krecs {
				r := tt.recs[i]
				if int(kr.OffsetDelta) != i || rb.FirstTimestamp+kr.TimestampDelta64 != r.Timestamp || kr.Attributes != r.Attributes ||
					!cmp.Equal(kr.Key, r.Key) || !cmp.Equal(kr.Value, r.Value) || len(kr.Headers) != len(r.Headers) {
					t.Fatalf("record %d = %+v, want %+v", i, kr, r)
				}
			}
			got, err := checkBatch(b)
			if err != nil {
				t.Fatalf("checkBatch: %v", err)
			}
			if got != info || info.maxTS != maxTS || info.next() != 1234+int64(len(tt.recs)) {
				t.Fatalf("checkBatch info %+v, encode info %+v", got, info)
			}
			dec, _, _, err := appendRecords(nil, b, 0, 1<<62, 1<<30, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]Record(nil), tt.recs...)
			for i := range want {
				want[i].Offset = 1234 + int64(i)
			}
			if diff := cmp.Diff(want, dec); diff != "" {
				t.Fatalf("decode (-want +got):\n%s", diff)
			}
		})
	}
}

// mutate returns a copy of a valid two-record batch changed by f, with the
// CRC recomputed when fixCRC is set.
func mutate(t *testing.T, fixCRC bool, f func(b []byte) []byte) []byte {
	t.Helper()
	var e encoder
	b, _ := e.encode(0, []Record{{Key: []byte("key"), Value: []byte("value"), Timestamp: 9}, {Value: []byte("v2"), Timestamp: 10}})
	b = f(append([]byte(nil), b...))
	if fixCRC && len(b) >= batchHeaderLen {
		binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	}
	return b
}

func TestCheckBatchRejects(t *testing.T) {
	tests := []struct {
		name   string
		fixCRC bool
		f      func(b []byte) []byte
		want   error
	}{
		{"empty", false, func(b []byte) []byte { return nil }, ErrCorrupt},
		{"short header", false, func(b []byte) []byte { return b[:40] }, ErrCorrupt},
		{"truncated", false, func(b []byte) []byte { return b[:len(b)-1] }, ErrCorrupt},
		{"trailing byte", false, func(b []byte) []byte { return append(b, 0) }, ErrCorrupt},
		{"length too small", false, func(b []byte) []byte { binary.BigEndian.PutUint32(b[offLength:], 10); return b }, ErrCorrupt},
		{"negative length", false, func(b []byte) []byte { binary.BigEndian.PutUint32(b[offLength:], 0xffffffff); return b }, ErrCorrupt},
		{"magic 1", true, func(b []byte) []byte { b[offMagic] = 1; return b }, ErrCorrupt},
		{"flipped value byte", false, func(b []byte) []byte { b[len(b)-3] ^= 1; return b }, ErrCorrupt},
		{"flipped crc", false, func(b []byte) []byte { b[offCRC] ^= 0x80; return b }, ErrCorrupt},
		{"gzip flag on plain records", true, func(b []byte) []byte { b[offAttributes+1] |= 1; return b }, ErrCorrupt},
		{"unknown codec", true, func(b []byte) []byte { b[offAttributes+1] |= 6; return b }, ErrUnsupported},
		{"control", true, func(b []byte) []byte { b[offAttributes+1] |= 0x20; return b }, ErrUnsupported},
		{"count too high", true, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offRecordCount:], 3)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 2)
			return b
		}, ErrCorrupt},
		{"count too low", true, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offRecordCount:], 1)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 0)
			return b
		}, ErrCorrupt},
		{"last delta mismatch", true, func(b []byte) []byte { binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 5); return b }, ErrCorrupt},
		{"zero records", true, func(b []byte) []byte {
			b = b[:batchHeaderLen]
			binary.BigEndian.PutUint32(b[offLength:], batchHeaderLen-12)
			binary.BigEndian.PutUint32(b[offRecordCount:], 0)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 0xffffffff)
			return b
		}, ErrCorrupt},
		{"offset delta out of order", true, func(b []byte) []byte {
			// The first record's offset delta (a 1-byte varint after the
			// length varint, attributes and timestamp delta) becomes 1.
			b[batchHeaderLen+3] = 2
			return b
		}, ErrCorrupt},
		{"negative base offset", false, func(b []byte) []byte { binary.BigEndian.PutUint64(b, 1<<63); return b }, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mutate(t, tt.fixCRC, tt.f)
			if _, err := checkBatch(b); !errors.Is(err, tt.want) {
				t.Fatalf("checkBatch = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestBaseOffsetOutsideCRC(t *testing.T) {
	b := mutate(t, false, func(b []byte) []byte { setBaseOffset(b, 77); return b })
	info, err := checkBatch(b)
	if err != nil || info.base != 77 {
		t.Fatalf("checkBatch after rewriting the base offset: %+v, %v", info, err)
	}
}

func TestVarintLen(t *testing.T) {
	for _, x := range []int64{0, 1, -1, 63, -64, 64, -65, 8191, 8192, 1 << 40, -1 << 62, 1<<63 - 1, -1 << 63} {
		buf := binary.AppendVarint(nil, x)
		if got := varintLen(x); got != len(buf) {
			t.Errorf("varintLen(%d) = %d, want %d", x, got, len(buf))
		}
	}
}
