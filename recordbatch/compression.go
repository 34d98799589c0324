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

// Budget is memory shared by many decompressions at once, such as
// internal/budget's Bytes: a decompression takes bytes from it before
// each allocation of its output, as the output grows (never the size the
// data claims), and Take reports false, taking nothing, when that would
// pass the budget. Safe for concurrent use.
type Budget interface {
	Take(n int64) bool
	Give(n int64)
}

// Decompress appends the decompressed form of src to dst. It fails with
// ErrTooLarge once more than limit bytes would come out (a small batch can
// hold a bomb), and with ErrCorrupt on bad data or an unknown codec.
func Decompress(dst []byte, c Codec, src []byte, limit int) ([]byte, error) {
	out, _, err := decompress(dst, c, src, limit, nil)
	return out, err
}

// decompress is Decompress charging what it allocates to b as its output
// grows (nil: no budget). On success the caller gives back charged to b
// once done with the output; on any error nothing stays charged. A
// refusal of b is ErrBusy.
func decompress(dst []byte, c Codec, src []byte, limit int, b Budget) ([]byte, int64, error) {
	switch c {
	case None:
		if len(src) > limit {
			return nil, 0, ErrTooLarge
		}
		if !take(b, int64(len(src))) {
			return nil, 0, ErrBusy
		}
		return append(dst, src...), int64(len(src)), nil
	case Snappy:
		if bytes.HasPrefix(src, xerialMagic) {
			return unxerial(dst, src, limit, b)
		}
		return unsnappy(dst, src, limit, b)
	case Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, 0, corruptf("gzip: %v", err)
		}
		return readAll(dst, zr, len(src), limit, b, "gzip")
	case LZ4:
		// The reader's two block buffers (a block as read, and
		// decompressed) are the frame's to size: charged too, for as
		// long as the reader decodes.
		blocks := 2 * lz4BlockMax(src)
		if !take(b, blocks) {
			return nil, 0, ErrBusy
		}
		defer give(b, blocks)
		return readAll(dst, lz4.NewReader(bytes.NewReader(src)), len(src), limit, b, "lz4")
	case Zstd:
		return unzstd(dst, src, limit, b)
	}
	return nil, 0, corruptf("unknown compression codec %d", c)
}

// take takes n bytes of b, if there is a budget.
func take(b Budget, n int64) bool { return b == nil || n <= 0 || b.Take(n) }

// give gives n bytes back to b, if there is a budget.
func give(b Budget, n int64) {
	if b != nil && n > 0 {
		b.Give(n)
	}
}

// firstOut is the least room readAll starts its output with.
const firstOut = 64 << 10

// readAll appends everything r yields to dst, at most limit bytes, r
// being the decompression of srcLen bytes. The room the output may fill
// grows as it fills (grownRoom), never past limit, and is charged to b
// before it is used (charged is what it holds): dst's own space first,
// then a new buffer only when dst has not the room. A full limit is told
// from a bomb by reading one byte more into a probe, not by growing the
// buffer again (through bytes.Buffer a 128 MiB limit allocated 256 MiB).
func readAll(dst []byte, r io.Reader, srcLen, limit int, b Budget, name string) ([]byte, int64, error) {
	start := len(dst)
	charged := 0 // the room taken from b; reads stay within it
	fail := func(err error) ([]byte, int64, error) {
		give(b, int64(charged))
		return nil, 0, err
	}
	buf := dst
	for {
		if len(buf)-start >= limit {
			var probe [1]byte
			n, err := io.ReadFull(r, probe[:])
			if n > 0 {
				return fail(ErrTooLarge)
			}
			if err != io.EOF {
				return fail(&CorruptError{Reason: name + ": " + err.Error(), Err: err})
			}
			return buf, int64(charged), nil
		}
		if len(buf)-start == charged {
			room := grownRoom(charged, srcLen, limit)
			if !take(b, int64(room-charged)) {
				return fail(ErrBusy)
			}
			charged = room
			if start+room > cap(buf) {
				buf = append(make([]byte, 0, start+room), buf...)
			}
		}
		n, err := r.Read(buf[len(buf) : start+charged])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, int64(charged), nil
		}
		if err != nil {
			return fail(&CorruptError{Reason: name + ": " + err.Error(), Err: err})
		}
	}
}

// grownRoom is the room readAll's output grows to from room: twice
// room, starting from four times srcLen (at least firstOut), each a
// power-of-two fraction of limit, so that the last doubling lands on limit
// instead of growing by a sliver once more past a full copy.
func grownRoom(room, srcLen, limit int) int {
	if room > 0 {
		return min(limit, 2*room)
	}
	want := max(firstOut, 4*srcLen)
	room = limit
	for room/2 >= want {
		room /= 2
	}
	return room
}

// unzstd decodes zstd data whole (DecodeAll), into room that grows as
// readAll's does (grownRoom) and is charged to b before it is used: a
// decode that needs more room than it has stops, and starts again in
// twice the room. The decoder writes straight into that room, which is
// its window too: the streaming decoder allocated a ring of the window a
// frame declares before a byte came out, so 19 bytes declaring a 128 MiB
// window cost 134 MB, charged to nothing, and 64 such batches checked at
// once 8.6 GB. A frame whose content size says it needs more room than
// there is stops before any decoding; one that does not say it is
// decoded again in each larger room, which costs at most about twice the
// last decode's work. The decoder tells a block that does not fit in the
// room left from a corrupt one only between blocks
// (ErrDecoderSizeExceeded); within one, it says the block is bigger than
// a block may be, so a failure within a block of the room's end is taken
// for want of room. The window a frame declares costs nothing beyond the
// room, which is the window too: it is held to what libzstd, and Kafka
// with it, decodes by default (zstdMaxWindow), not to limit. libzstd
// declares 2 MiB when it is not told the size it compresses, as librdkafka
// does not tell it, whatever the size.
func unzstd(dst, src []byte, limit int, b Budget) ([]byte, int64, error) {
	zd, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecodeAllCapLimit(true),
		// The decoder holds the window to its memory bound as well, so
		// that is zstdMaxWindow at least; the room bounds the output.
		zstd.WithDecoderMaxMemory(uint64(max(limit, zstdMaxWindow))), zstd.WithDecoderMaxWindow(zstdMaxWindow))
	if err != nil {
		return nil, 0, corruptf("zstd: %v", err)
	}
	defer zd.Close()
	// A frame that says its size (kgo's and librdkafka's do) is refused
	// by the decoder, before any work, in less room: the room grows to it
	// at once, rather than a buffer allocated for each size on the way.
	want := 0
	var h zstd.Header
	if h.Decode(src) == nil && h.HasFCS {
		if h.FrameContentSize > uint64(limit) {
			return nil, 0, ErrTooLarge
		}
		want = int(h.FrameContentSize)
	}
	start, room := len(dst), 0
	for {
		for grew := false; !grew || room < want && room < limit; grew = true {
			grown := grownRoom(room, len(src), limit)
			if !take(b, int64(grown-room)) {
				give(b, int64(room))
				return nil, 0, ErrBusy
			}
			room = grown
		}
		if start+room > cap(dst) {
			dst = append(make([]byte, 0, start+room), dst...)
		}
		out, err := zd.DecodeAll(src, dst[:start:start+room])
		switch {
		case err == nil:
			return out, int64(room), nil
		case errors.Is(err, zstd.ErrWindowSizeExceeded):
			// The frame declares a window libzstd would not decode.
			give(b, int64(room))
			return nil, 0, ErrTooLarge
		case errors.Is(err, zstd.ErrDecoderSizeExceeded),
			start+room-max(len(out), start) < zstdMaxBlock: // a block that may not have fit
			if room >= limit {
				give(b, int64(room))
				return nil, 0, ErrTooLarge
			}
		default:
			give(b, int64(room))
			return nil, 0, &CorruptError{Reason: "zstd: " + err.Error(), Err: err}
		}
	}
}

// zstdMaxBlock is the most a zstd block decodes to (RFC 8878
// Block_Maximum_Size), and zstdMaxWindow the largest window libzstd
// decodes unless told otherwise (ZSTD_WINDOWLOG_LIMIT_DEFAULT, 27).
const (
	zstdMaxBlock  = 128 << 10
	zstdMaxWindow = 1 << 27
)

// lz4Largest is the largest block an LZ4 frame may declare.
const lz4Largest = 4 << 20

// lz4BlockMax is the size of the block buffers pierrec/lz4's reader
// allocates to decode src, whatever src holds: the block maximum size its frame
// declares (64 KiB as Kafka's Java client writes, 4 MiB as the Go
// writer's default), if src is exactly one well-formed frame; else the
// largest, 4 MiB. A 10-byte value in a frame declaring 4 MiB blocks held
// 8 MiB while it was decoded, charged to nothing.
func lz4BlockMax(src []byte) int64 {
	const magic = 0x184D2204
	if len(src) < 7 || binary.LittleEndian.Uint32(src) != magic {
		return lz4Largest
	}
	flg, bd := src[4], src[5]
	var size int64
	switch (bd >> 4) & 7 {
	case 4:
		size = 64 << 10
	case 5:
		size = 256 << 10
	case 6:
		size = 1 << 20
	default:
		return lz4Largest
	}
	p := 7 // magic, FLG, BD, header checksum
	if flg&0x08 != 0 {
		p += 8 // content size
	}
	if flg&0x01 != 0 {
		p += 4 // dictionary ID
	}
	for {
		if p+4 > len(src) {
			return lz4Largest
		}
		n := int64(binary.LittleEndian.Uint32(src[p:]) &^ (1 << 31))
		p += 4
		if n == 0 {
			break // the end mark
		}
		if n > size || n > int64(len(src)-p) {
			return lz4Largest
		}
		p += int(n)
		if flg&0x10 != 0 {
			p += 4 // block checksum
		}
	}
	if flg&0x04 != 0 {
		p += 4 // content checksum
	}
	if p != len(src) {
		return lz4Largest
	}
	return size
}

// maxSnappyRatio bounds what snappy data decodes to per byte: its longest
// copy, 64 bytes, takes three. A claim past it is a lie, refused before
// anything is allocated for it.
const maxSnappyRatio = 22

func unsnappy(dst, src []byte, limit int, b Budget) ([]byte, int64, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, 0, corruptf("snappy: %v", err)
	}
	if n > limit {
		return nil, 0, ErrTooLarge
	}
	if n > maxSnappyRatio*len(src) {
		return nil, 0, corruptf("snappy: %d bytes claim %d", len(src), n)
	}
	if !take(b, int64(n)) {
		return nil, 0, ErrBusy
	}
	// Decode straight into dst's tail: no second buffer, no copy.
	dst = slices.Grow(dst, n)
	if _, err := s2.Decode(dst[len(dst):len(dst)+n], src); err != nil {
		give(b, int64(n))
		return nil, 0, corruptf("snappy: %v", err)
	}
	return dst[:len(dst)+n], int64(n), nil
}

// unxerial decodes xerial-framed snappy: the magic, a version and a
// compatible version (4 bytes each), then length-prefixed snappy blocks.
func unxerial(dst, src []byte, limit int, b Budget) ([]byte, int64, error) {
	const headerLen = 16
	if len(src) < headerLen {
		return nil, 0, corruptf("snappy: short xerial header")
	}
	src = src[headerLen:]
	start := len(dst)
	var charged int64
	for len(src) > 0 {
		if len(src) < 4 {
			give(b, charged)
			return nil, 0, corruptf("snappy: torn xerial chunk length")
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			give(b, charged)
			return nil, 0, corruptf("snappy: xerial chunk of %d bytes, %d left", n, len(src))
		}
		var (
			k   int64
			err error
		)
		if dst, k, err = unsnappy(dst, src[:n], limit-(len(dst)-start), b); err != nil {
			give(b, charged)
			return nil, 0, err
		}
		charged += k
		src = src[n:]
	}
	return dst, charged, nil
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
