package commitlog

import (
	"encoding/binary"
	"math"
)

// recordView is one record decoded in place: its slices alias the batch.
type recordView struct {
	attributes     int8
	timestampDelta int64
	offsetDelta    int32
	key, value     []byte // nil when the stored length is -1
	headerCount    int
	headers        []byte // the encoded headers, already validated
}

// nextRecord decodes the record at the start of p and returns the rest of p.
// Every length is checked against the record's own length prefix, so a
// malformed record can never read past its bytes.
func nextRecord(p []byte) (recordView, []byte, error) {
	n, k := binary.Varint(p)
	if k <= 0 || n < 0 || n > int64(len(p)-k) {
		return recordView{}, nil, corruptf("bad record length")
	}
	body, rest := p[k:k+int(n)], p[k+int(n):]
	var v recordView
	if len(body) < 1 {
		return recordView{}, nil, corruptf("empty record")
	}
	v.attributes = int8(body[0])
	body = body[1:]
	var ok bool
	if v.timestampDelta, body, ok = readVarint(body); !ok {
		return recordView{}, nil, corruptf("bad timestamp delta")
	}
	var od int64
	if od, body, ok = readVarint(body); !ok || od < math.MinInt32 || od > math.MaxInt32 {
		return recordView{}, nil, corruptf("bad offset delta")
	}
	v.offsetDelta = int32(od)
	if v.key, body, ok = readBytes(body); !ok {
		return recordView{}, nil, corruptf("bad key")
	}
	if v.value, body, ok = readBytes(body); !ok {
		return recordView{}, nil, corruptf("bad value")
	}
	var hc int64
	if hc, body, ok = readVarint(body); !ok || hc < 0 || hc > int64(len(body)) {
		return recordView{}, nil, corruptf("bad header count")
	}
	v.headerCount, v.headers = int(hc), body
	for range v.headerCount {
		var hk []byte
		if hk, body, ok = readBytes(body); !ok || hk == nil {
			return recordView{}, nil, corruptf("bad header key")
		}
		if _, body, ok = readBytes(body); !ok {
			return recordView{}, nil, corruptf("bad header value")
		}
	}
	if len(body) != 0 {
		return recordView{}, nil, corruptf("%d bytes after the record's fields", len(body))
	}
	return v, rest, nil
}

// readVarint reads one zig-zag varint.
func readVarint(p []byte) (int64, []byte, bool) {
	x, k := binary.Varint(p)
	if k <= 0 {
		return 0, nil, false
	}
	return x, p[k:], true
}

// readBytes reads a varint-length-prefixed nullable byte slice (-1 is nil).
// The result aliases p; an empty non-null slice is non-nil.
func readBytes(p []byte) ([]byte, []byte, bool) {
	n, p, ok := readVarint(p)
	switch {
	case !ok || n < -1 || n > int64(len(p)):
		return nil, nil, false
	case n == -1:
		return nil, p, true
	}
	return p[:n:n], p[n:], true
}

// dataLen is the number of key, value and header bytes of the record: what
// Read counts against maxBytes and what the backing slice must hold.
func (v *recordView) dataLen() int {
	return len(v.key) + len(v.value) + len(v.headers)
}

// appendRecords decodes the records of the valid batch b whose offsets are in
// [from, to), stopping once maxRecords records are in dst or once their data
// would pass budget bytes (but never before dst has one record). It returns
// dst, the remaining budget, and whether the read is complete (maxRecords,
// to or the budget reached). Key, Value and header values alias b.
func appendRecords(dst []Record, b []byte, from, to int64, maxRecords, budget int) ([]Record, int, bool, error) {
	base := int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	first := int64(binary.BigEndian.Uint64(b[offFirstTimestamp:]))
	count := int(int32(binary.BigEndian.Uint32(b[offRecordCount:])))
	p, err := recordData(b)
	if err != nil {
		return dst, budget, true, err
	}
	for i := 0; i < count; i++ {
		v, rest, err := nextRecord(p)
		if err != nil {
			return dst, budget, true, err
		}
		p = rest
		off := base + int64(v.offsetDelta)
		if off < from {
			continue
		}
		if off >= to || len(dst) >= maxRecords {
			return dst, budget, true, nil
		}
		n := v.dataLen()
		if len(dst) > 0 && n > budget {
			return dst, budget, true, nil
		}
		budget -= n
		dst = append(dst, Record{
			Offset:     off,
			Timestamp:  first + v.timestampDelta,
			Key:        v.key,
			Value:      v.value,
			Headers:    decodeHeaders(v.headers, v.headerCount),
			Attributes: v.attributes,
		})
		if len(dst) >= maxRecords || off+1 >= to {
			return dst, budget, true, nil // done: no need to look at what follows
		}
	}
	return dst, budget, false, nil
}

// decodeHeaders decodes count headers already validated by nextRecord.
func decodeHeaders(p []byte, count int) []Header {
	if count == 0 {
		return nil
	}
	hs := make([]Header, count)
	for i := range hs {
		var k []byte
		k, p, _ = readBytes(p)
		hs[i].Key = string(k)
		hs[i].Value, p, _ = readBytes(p)
	}
	return hs
}
