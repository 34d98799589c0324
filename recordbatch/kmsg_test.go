package recordbatch

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The helpers here build and read batches with kmsg and the compression
// libraries alone, so the tests check this package against them rather
// than against itself.

// kmsgBatch encodes kb with kmsg, its length and CRC set as Kafka does.
func kmsgBatch(kb kmsg.RecordBatch) []byte {
	kb.Magic = 2
	kb.Length = int32(HeaderLen - LengthFieldEnd + len(kb.Records))
	b := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[OffCRC:], crc32.Checksum(b[OffAttributes:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func toKmsg(r *Record) *kmsg.Record {
	kr := &kmsg.Record{Attributes: r.Attributes, TimestampDelta64: r.TimestampDelta, OffsetDelta: r.OffsetDelta, Key: r.Key, Value: r.Value}
	for _, h := range r.Headers {
		kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
	}
	n, _ := binary.Varint(AppendRecord(nil, r)) // the record's length prefix
	kr.Length = int32(n)
	return kr
}

func fromKmsg(kr *kmsg.Record) Record {
	r := Record{Attributes: kr.Attributes, TimestampDelta: kr.TimestampDelta64, OffsetDelta: kr.OffsetDelta, Key: kr.Key, Value: kr.Value}
	for _, h := range kr.Headers {
		r.Headers = append(r.Headers, RecordHeader{Key: h.Key, Value: h.Value})
	}
	return r
}

// libCompress compresses src with the codec's library, as a Kafka client
// would.
func libCompress(t tb, c Codec, src []byte) []byte {
	var buf bytes.Buffer
	var w io.WriteCloser
	switch c {
	case None:
		return src
	case Snappy:
		return s2.EncodeSnappy(nil, src)
	case Zstd:
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		return enc.EncodeAll(src, nil)
	case Gzip:
		w = gzip.NewWriter(&buf)
	case LZ4:
		w = lz4.NewWriter(&buf)
	}
	if _, err := w.Write(src); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// libDecompress decompresses src with the codec's library, as a Kafka
// client would.
func libDecompress(t tb, c Codec, src []byte) []byte {
	var out []byte
	var err error
	switch c {
	case None:
		return src
	case Snappy:
		out, err = s2.Decode(nil, src)
	case Zstd:
		var dec *zstd.Decoder
		if dec, err = zstd.NewReader(nil); err == nil {
			defer dec.Close()
			out, err = dec.DecodeAll(src, nil)
		}
	case Gzip:
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(src)); err == nil {
			out, err = io.ReadAll(zr)
		}
	case LZ4:
		out, err = io.ReadAll(lz4.NewReader(bytes.NewReader(src)))
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}
