package client

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"
)

// TestBatchBuilderMatchesKafka decodes built batches with franz-go's kmsg
// and checks every field a Kafka reader looks at.
func TestBatchBuilderMatchesKafka(t *testing.T) {
	type rec struct {
		key, value []byte
		headers    []Header
		ts         int64
	}
	tests := []struct {
		name string
		recs []rec
	}{
		{"one keyless", []rec{{nil, []byte("v"), nil, 1000}}},
		{"empty value and key", []rec{{[]byte{}, []byte{}, nil, 5}}},
		{"null value", []rec{{[]byte("k"), nil, nil, 5}}},
		{"headers", []rec{{[]byte("k"), []byte("v"), []Header{{"a", []byte("1")}, {"b", nil}}, 7}}},
		{"timestamps go back", []rec{{nil, []byte("a"), nil, 2000}, {nil, []byte("b"), nil, 1000}, {nil, []byte("c"), nil, 3000}}},
		{"large value", []rec{{nil, bytes.Repeat([]byte("x"), 70000), nil, 1}, {[]byte("k"), []byte("y"), nil, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBatchBuilder(nil)
			for _, r := range tt.recs {
				b.add(r.key, r.value, r.headers, r.ts)
			}
			raw := b.seal()
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(raw); err != nil {
				t.Fatal(err)
			}
			if int(kb.Length)+12 != len(raw) || kb.Magic != 2 || kb.NumRecords != int32(len(tt.recs)) || kb.LastOffsetDelta != int32(len(tt.recs)-1) {
				t.Fatalf("header %+v for %d bytes", kb, len(raw))
			}
			if got, want := uint32(kb.CRC), crc32.Checksum(raw[21:], castagnoli); got != want {
				t.Fatalf("crc %08x, computed %08x", got, want)
			}
			if binary.BigEndian.Uint64(raw) != 0 {
				t.Fatal("base offset is not 0")
			}
			maxTS := tt.recs[0].ts
			p := kb.Records
			for i, want := range tt.recs {
				maxTS = max(maxTS, want.ts)
				var kr kmsg.Record
				n, _ := binary.Varint(p)
				length := int(n) + varintLen(n)
				if err := kr.ReadFrom(p[:length]); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				p = p[length:]
				if kr.OffsetDelta != int32(i) || kb.FirstTimestamp+kr.TimestampDelta64 != want.ts ||
					!bytes.Equal(kr.Key, want.key) || (kr.Key == nil) != (want.key == nil) ||
					!bytes.Equal(kr.Value, want.value) || (kr.Value == nil) != (want.value == nil) ||
					len(kr.Headers) != len(want.headers) {
					t.Fatalf("record %d: %+v, want %+v", i, kr, want)
				}
				for j, h := range want.headers {
					if kr.Headers[j].Key != h.Key || !bytes.Equal(kr.Headers[j].Value, h.Value) {
						t.Fatalf("record %d header %d: %+v", i, j, kr.Headers[j])
					}
				}
			}
			if len(p) != 0 || kb.MaxTimestamp != maxTS {
				t.Fatalf("%d trailing bytes, max timestamp %d want %d", len(p), kb.MaxTimestamp, maxTS)
			}
		})
	}
}

// TestBatchBuilderProperty: any records, encoded by the builder, decode with
// kmsg to the same keys, values, headers and timestamps, with a valid CRC.
func TestBatchBuilderProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		type rec struct {
			key, value []byte
			headers    []Header
			ts         int64
		}
		nilOr := func(label string) []byte {
			if rapid.Bool().Draw(t, label+"Nil") {
				return nil
			}
			return rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, label)
		}
		base := rapid.Int64Range(0, 1<<45).Draw(t, "base")
		recs := make([]rec, rapid.IntRange(1, 50).Draw(t, "n"))
		b := newBatchBuilder(rapid.SliceOfN(rapid.Byte(), 0, 100).Draw(t, "reused"))
		for i := range recs {
			r := &recs[i]
			r.key, r.value = nilOr("key"), nilOr("value")
			for range rapid.IntRange(0, 3).Draw(t, "headers") {
				r.headers = append(r.headers, Header{Key: rapid.String().Draw(t, "hkey"), Value: nilOr("hvalue")})
			}
			r.ts = base + rapid.Int64Range(-1e6, 1e6).Draw(t, "delta")
			b.add(r.key, r.value, r.headers, r.ts)
		}
		raw := b.seal()
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(raw); err != nil {
			t.Fatal(err)
		}
		if uint32(kb.CRC) != crc32.Checksum(raw[21:], castagnoli) || int(kb.Length)+12 != len(raw) || kb.NumRecords != int32(len(recs)) {
			t.Fatalf("bad header %+v", kb)
		}
		p := kb.Records
		for i, want := range recs {
			n, _ := binary.Varint(p)
			length := int(n) + varintLen(n)
			var kr kmsg.Record
			if err := kr.ReadFrom(p[:length]); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			p = p[length:]
			same := func(a, b []byte) bool { return bytes.Equal(a, b) && (a == nil) == (b == nil) }
			if kr.OffsetDelta != int32(i) || kb.FirstTimestamp+kr.TimestampDelta64 != want.ts || !same(kr.Key, want.key) || !same(kr.Value, want.value) || len(kr.Headers) != len(want.headers) {
				t.Fatalf("record %d decoded as %+v, want %+v", i, kr, want)
			}
			for j, h := range want.headers {
				if kr.Headers[j].Key != h.Key || !same(kr.Headers[j].Value, h.Value) {
					t.Fatalf("record %d header %d: %+v, want %+v", i, j, kr.Headers[j], h)
				}
			}
		}
		if len(p) != 0 {
			t.Fatalf("%d bytes after the records", len(p))
		}
	})
}
