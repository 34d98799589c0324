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

func libCompress(t tb, c Codec, src []byte) []byte {
	var buf bytes.Buffer
	switch c {
	case None:
		return src
	case Gzip:
		w := gzip.NewWriter(&buf)
		w.Write(src)
		w.Close()
	case Snappy:
		return s2.EncodeSnappy(nil, src)
	case LZ4:
		w := lz4.NewWriter(&buf)
		w.Write(src)
		w.Close()
	case Zstd:
		w, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		return w.EncodeAll(src, nil)
	}
	return buf.Bytes()
}

func libDecompress(t tb, c Codec, src []byte) []byte {
	var r io.Reader
	switch c {
	case None:
		return src
	case Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case Snappy:
		out, err := s2.Decode(nil, src)
		if err != nil {
			t.Fatal(err)
		}
		return out
	case LZ4:
		r = lz4.NewReader(bytes.NewReader(src))
	case Zstd:
		zr, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		out, err := zr.DecodeAll(src, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
