package recordbatch

import (
	"encoding/binary"
	"math"
)

// MinRecordLen is the smallest encoded record: a byte each for its length,
// attributes, two deltas, key, value and header count. A batch of n bytes
// of record data holds at most n/MinRecordLen records.
const MinRecordLen = 7

// Record is one record to encode. Offsets and timestamps are deltas from
// the batch header's.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key, Value     []byte // nil is encoded as length -1 (null)
	Headers        []RecordHeader
}

// RecordHeader is one record header.
type RecordHeader struct {
	Key   string
	Value []byte // nil is encoded as null
}

// View is one record decoded in place: Key, Value and the headers alias the
// batch's record data, so decoding one allocates nothing. Iter decodes them.
type View struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key, Value     []byte // nil when the stored length is -1
	numHeaders     int
	headers        []byte // the encoded headers, checked by decodeRecord
}

// NumHeaders is the record's header count.
func (v *View) NumHeaders() int { return v.numHeaders }

// HeadersLen is the encoded size of the record's headers (their lengths
// included, the count not).
func (v *View) HeadersLen() int { return len(v.headers) }

// Headers iterates over the record's headers.
func (v *View) Headers() HeaderIter { return HeaderIter{p: v.headers, left: v.numHeaders} }

// AppendHeaders appends the record's headers to dst; each key is a new
// string, each value aliases the batch.
func (v *View) AppendHeaders(dst []RecordHeader) []RecordHeader {
	for it := v.Headers(); ; {
		k, val, ok := it.Next()
		if !ok {
			return dst
		}
		dst = append(dst, RecordHeader{Key: string(k), Value: val})
	}
}

// HeaderIter walks the headers of a View.
type HeaderIter struct {
	p    []byte
	left int
}

// Next returns the next header's key and value (nil when null), or ok
// false after the last.
func (it *HeaderIter) Next() (key, value []byte, ok bool) {
	if it.left == 0 {
		return nil, nil, false
	}
	it.left--
	key, it.p, _ = nullableBytes(it.p) // checked by decodeRecord
	value, it.p, _ = nullableBytes(it.p)
	return key, value, true
}

// decodeRecord decodes the record at the start of p into v and returns the
// rest of p; v is undefined after an error. Every length is checked against
// the record's own length prefix, so a malformed record never reads past
// its bytes.
func decodeRecord(p []byte, v *View) ([]byte, error) {
	n, after, ok := varint(p)
	if !ok || n < 1 || n > int64(len(after)) {
		return nil, corruptf("bad record length")
	}
	body, rest := after[:n], after[n:]
	v.Attributes = int8(body[0])
	body = body[1:]
	if v.TimestampDelta, body, ok = varint(body); !ok {
		return nil, corruptf("bad timestamp delta")
	}
	var od int64
	if od, body, ok = varint(body); !ok || od < math.MinInt32 || od > math.MaxInt32 {
		return nil, corruptf("bad offset delta")
	}
	v.OffsetDelta = int32(od)
	if v.Key, body, ok = nullableBytes(body); !ok {
		return nil, corruptf("bad key")
	}
	if v.Value, body, ok = nullableBytes(body); !ok {
		return nil, corruptf("bad value")
	}
	var hc int64
	if hc, body, ok = varint(body); !ok || hc < 0 || hc > int64(len(body)) {
		return nil, corruptf("bad header count")
	}
	v.numHeaders, v.headers = int(hc), body
	for range v.numHeaders {
		var hk []byte
		if hk, body, ok = nullableBytes(body); !ok || hk == nil {
			return nil, corruptf("bad header key")
		}
		if _, body, ok = nullableBytes(body); !ok {
			return nil, corruptf("bad header value")
		}
	}
	if len(body) != 0 {
		return nil, corruptf("%d bytes after the record's fields", len(body))
	}
	return rest, nil
}

func varint(p []byte) (int64, []byte, bool) {
	// Most fields (deltas, counts, lengths under 8 KiB) fit in one or two
	// bytes: decoded here, they skip binary.Varint's loop, a visible share
	// of checking every record of a produced batch.
	if len(p) > 0 && p[0] < 0x80 {
		return unzigzag(uint64(p[0])), p[1:], true
	}
	if len(p) > 1 && p[1] < 0x80 {
		return unzigzag(uint64(p[0]&0x7f) | uint64(p[1])<<7), p[2:], true
	}
	x, k := binary.Varint(p)
	if k <= 0 {
		return 0, nil, false
	}
	return x, p[k:], true
}

// unzigzag decodes a zig-zag encoded varint value.
func unzigzag(ux uint64) int64 { return int64(ux>>1) ^ -int64(ux&1) }

// nullableBytes reads a varint-length-prefixed nullable byte slice (-1 is
// nil). The result aliases p; an empty non-null slice is non-nil.
func nullableBytes(p []byte) ([]byte, []byte, bool) {
	n, p, ok := varint(p)
	switch {
	case !ok || n < -1 || n > int64(len(p)):
		return nil, nil, false
	case n == -1:
		return nil, p, true
	}
	return p[:n:n], p[n:], true
}

// AppendRecord appends the encoding of r to dst.
func AppendRecord(dst []byte, r *Record) []byte {
	return appendRecord(dst, r.Attributes, r.TimestampDelta, r.OffsetDelta, r.Key, r.Value, r.Headers)
}

// appendRecord is AppendRecord with the fields as arguments, so that
// Builder.Add does not copy them into a Record first.
func appendRecord(dst []byte, attrs int8, tsDelta int64, offDelta int32, key, value []byte, headers []RecordHeader) []byte {
	n := 1 + varintLen(tsDelta) + varintLen(int64(offDelta)) +
		bytesLen(key) + bytesLen(value) + varintLen(int64(len(headers)))
	for _, h := range headers {
		n += varintLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	dst = binary.AppendVarint(dst, int64(n))
	dst = append(dst, byte(attrs))
	dst = binary.AppendVarint(dst, tsDelta)
	dst = binary.AppendVarint(dst, int64(offDelta))
	dst = appendBytes(dst, key)
	dst = appendBytes(dst, value)
	dst = binary.AppendVarint(dst, int64(len(headers)))
	for _, h := range headers {
		dst = binary.AppendVarint(dst, int64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendBytes(dst, h.Value)
	}
	return dst
}

func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	return append(binary.AppendVarint(dst, int64(len(b))), b...)
}

func bytesLen(b []byte) int {
	if b == nil {
		return 1
	}
	return varintLen(int64(len(b))) + len(b)
}

// varintLen is the size of x as a zig-zag varint.
func varintLen(x int64) int {
	ux := uint64(x)<<1 ^ uint64(x>>63)
	n := 1
	for ux >= 0x80 {
		ux >>= 7
		n++
	}
	return n
}
