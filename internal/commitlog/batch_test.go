package commitlog

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// Records go through the encoder and back with their offsets, absolute
// timestamps, attributes, keys, values and headers; checkBatch describes
// the batch as the encoder did. (The codec itself is tested in package
// recordbatch.)
func TestEncodeDecodeRecords(t *testing.T) {
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
			maxTS := tt.recs[0].Timestamp
			for _, r := range tt.recs {
				maxTS = max(maxTS, r.Timestamp)
			}
			got, err := checkBatch(b)
			if err != nil {
				t.Fatalf("checkBatch: %v", err)
			}
			if got != info || info.maxTS != maxTS || info.next() != 1234+int64(len(tt.recs)) || info.size != len(b) {
				t.Fatalf("checkBatch info %+v, encode info %+v", got, info)
			}
			dec, _, _, err := appendRecords(&decoder{}, nil, b, 0, 1<<62, 1<<30, 1<<30)
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

// checkBatch says the codec's refusals as ErrCorrupt, and what the log does
// not store (unknown codecs, control batches) as ErrUnsupported.
func TestCheckBatchErrors(t *testing.T) {
	var e encoder
	good, _ := e.encode(0, []Record{{Key: []byte("key"), Value: []byte("value"), Timestamp: 9}, {Value: []byte("v2"), Timestamp: 10}})
	withAttrs := func(attrs int16) []byte {
		b := bytes.Clone(good)
		b[recordbatch.OffAttributes+1] |= byte(attrs)
		recordbatch.SetCRC(b)
		return b
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"flipped crc", func() []byte { b := bytes.Clone(good); b[recordbatch.OffCRC] ^= 0x80; return b }(), ErrCorrupt},
		{"gzip flag on plain records", withAttrs(1), ErrCorrupt},
		{"unknown codec", withAttrs(6), ErrUnsupported},
		{"control", withAttrs(0x20), ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := checkBatch(tt.b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("checkBatch = %v, want %v", err, tt.want)
			}
			t.Log(err)
		})
	}
}

// A control batch in the log (written by a front end that stores
// transaction markers) holds no messages: reads step over it.
func TestReadSkipsControlBatches(t *testing.T) {
	var e encoder
	data, _ := e.encode(0, []Record{{Value: []byte("a"), Timestamp: 1}})
	data = bytes.Clone(data)
	data = recordbatch.BuildMarker(data, recordbatch.Header{BaseOffset: 1, ProducerID: 7}, recordbatch.ControlCommit, 0, 2)
	more, _ := e.encode(2, []Record{{Value: []byte("b"), Timestamp: 3}})
	data = append(data, more...)
	var got []Record
	for p := data; len(p) > 0; {
		n, _ := recordbatch.Len(p)
		var err error
		if got, _, _, err = appendRecords(&decoder{}, got, p[:n], 0, 3, 10, 1<<20); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if len(got) != 2 || got[0].Offset != 0 || got[1].Offset != 2 {
		t.Fatalf("read %+v, want offsets 0 and 2", got)
	}
}
