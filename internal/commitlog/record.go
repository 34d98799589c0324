package commitlog

import "github.com/abd-ulbasit/goqueue/recordbatch"

// appendRecords decodes the records of the valid batch b whose offsets are in
// [from, to), stopping once maxRecords records are in dst or once their data
// would pass budget bytes (but never before dst has one record). It returns
// dst, the remaining budget, and whether the read is complete (maxRecords,
// to or the budget reached). Key, Value and header values alias b, or,
// for a compressed batch (decompressed by d), a buffer of their own. A
// control batch (transaction markers) holds no messages: it is skipped.
func appendRecords(d *decoder, dst []Record, b []byte, from, to int64, maxRecords, budget int) (_ []Record, _ int, _ bool, err error) {
	h, err := recordbatch.ParseHeader(b)
	if err != nil {
		return dst, budget, true, batchError(err)
	}
	if h.Control() {
		return dst, budget, h.NextOffset() >= to, nil
	}
	it, compressed, done, err := d.records(b)
	if err != nil {
		return dst, budget, true, err
	}
	if compressed {
		start := len(dst)
		defer func() {
			Own(dst[start:])
			done()
		}()
	} else {
		defer done()
	}
	var v recordbatch.View
	for it.Next(&v) {
		off := h.BaseOffset + int64(v.OffsetDelta)
		if off < from {
			continue
		}
		if off >= to || len(dst) >= maxRecords {
			return dst, budget, true, nil
		}
		// What Read counts against maxBytes.
		n := len(v.Key) + len(v.Value) + v.HeadersLen()
		if len(dst) > 0 && n > budget {
			return dst, budget, true, nil
		}
		budget -= n
		dst = append(dst, Record{
			Offset:     off,
			Timestamp:  h.FirstTimestamp + v.TimestampDelta,
			Key:        v.Key,
			Value:      v.Value,
			Headers:    headersOf(&v),
			Attributes: v.Attributes,
		})
		if len(dst) >= maxRecords || off+1 >= to {
			return dst, budget, true, nil // done: no need to look at what follows
		}
	}
	return dst, budget, false, batchError(it.Err())
}

// headersOf is v's headers, nil when it has none.
func headersOf(v *recordbatch.View) []Header {
	if v.NumHeaders() == 0 {
		return nil
	}
	return v.AppendHeaders(make([]Header, 0, v.NumHeaders()))
}
