package recordbatch

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codec is a batch's compression, the low three bits of its attributes.
type Codec int8

// The codecs Kafka defines.
const (
	None   Codec = 0
	Gzip   Codec = 1
	Snappy Codec = 2
	LZ4    Codec = 3
	Zstd   Codec = 4
)

func (c Codec) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("Codec(%d)", int8(c))
}

// xerialMagic starts snappy data framed the way the Java client writes it:
// a 16-byte header, then chunks of a 4-byte length and a snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// Decompress appends the decompressed form of src to dst. It fails with
// ErrTooLarge once more than limit bytes would come out (a small batch can
// hold a bomb), and with ErrCorrupt on bad data or an unknown codec.
func Decompress(dst []byte, c Codec, src []byte, limit int) ([]byte, error) {
	switch c {
	case None:
		if len(src) > limit {
			return nil, ErrTooLarge
		}
		return append(dst, src...), nil
	case Snappy:
		if bytes.HasPrefix(src, xerialMagic) {
			return unxerial(dst, src, limit)
		}
		return unsnappy(dst, src, limit)
	case Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, corruptf("gzip: %v", err)
		}
		return readAll(dst, zr, limit, "gzip")
	case LZ4:
		return readAll(dst, lz4.NewReader(bytes.NewReader(src)), limit, "lz4")
	case Zstd:
		zr, err := zstd.NewReader(bytes.NewReader(src), zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(uint64(max(limit, 1))))
		if err != nil {
			return nil, corruptf("zstd: %v", err)
		}
		defer zr.Close()
		out, err := readAll(dst, zr, limit, "zstd")
		if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
			return nil, ErrTooLarge
		}
		return out, err
	}
	return nil, corruptf("unknown compression codec %d", c)
}

// readAll appends everything r yields to dst, at most limit bytes.
func readAll(dst []byte, r io.Reader, limit int, name string) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, &CorruptError{Reason: name + ": " + err.Error(), Err: err}
	}
	if n > int64(limit) {
		return nil, ErrTooLarge
	}
	return buf.Bytes(), nil
}

func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, corruptf("snappy: %v", err)
	}
	if n > limit {
		return nil, ErrTooLarge
	}
	// Decode straight into dst's tail: no second buffer, no copy.
	dst = slices.Grow(dst, n)
	if _, err := s2.Decode(dst[len(dst):len(dst)+n], src); err != nil {
		return nil, corruptf("snappy: %v", err)
	}
	return dst[:len(dst)+n], nil
}

// unxerial decodes xerial-framed snappy: the magic, a version and a
// compatible version (4 bytes each), then length-prefixed snappy blocks.
func unxerial(dst, src []byte, limit int) ([]byte, error) {
	const headerLen = 16
	if len(src) < headerLen {
		return nil, corruptf("snappy: short xerial header")
	}
	src = src[headerLen:]
	start := len(dst)
	for len(src) > 0 {
		if len(src) < 4 {
			return nil, corruptf("snappy: torn xerial chunk length")
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return nil, corruptf("snappy: xerial chunk of %d bytes, %d left", n, len(src))
		}
		var err error
		if dst, err = unsnappy(dst, src[:n], limit-(len(dst)-start)); err != nil {
			return nil, err
		}
		src = src[n:]
	}
	return dst, nil
}

// Compress appends the compressed form of src to dst.
func Compress(dst []byte, c Codec, src []byte) ([]byte, error) {
	switch c {
	case None:
		return append(dst, src...), nil
	case Snappy:
		return append(dst, s2.EncodeSnappy(nil, src)...), nil
	case Gzip:
		buf := bytes.NewBuffer(dst)
		zw := gzip.NewWriter(buf)
		zw.Write(src)
		if err := zw.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case LZ4:
		buf := bytes.NewBuffer(dst)
		zw := lz4.NewWriter(buf)
		if _, err := zw.Write(src); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case Zstd:
		zw, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer zw.Close()
		return zw.EncodeAll(src, dst), nil
	}
	return nil, fmt.Errorf("recordbatch: unknown compression codec %d", c)
}
