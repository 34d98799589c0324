package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// attrJSON marks a record whose value is JSON text (an object, array,
// number, true or false) to be returned as that JSON. Without it, a value is
// text (returned as a JSON string) or, if it is not UTF-8, bytes (returned in
// value_base64).
const attrJSON = broker.AttrJSON

// decodePublish decodes a POST /topics/{topic}/messages body: one message or
// {"messages":[...]} of at most maxMessages. It checks encodings only; sizes
// and partitions are the broker's to check. An error is always an
// *api.Error, and for a batch its details name the index of the first bad
// message.
//
// The body is read from r as it arrives. A batch is decoded token by token,
// one message at a time straight into a broker message, so what is held is
// the decoded messages and one message's bytes, never the whole body nor a
// second copy of every message (a 16 MiB body of empty messages once took
// 2.1 GB).
func decodePublish(r io.Reader, maxMessages int) ([]broker.Message, error) {
	dec := json.NewDecoder(&utf8Body{r: r})
	dec.DisallowUnknownFields()
	if tok, err := dec.Token(); err != nil {
		return nil, jsonError(err)
	} else if tok != json.Delim('{') {
		return nil, api.ErrInvalidArgument.Withf("expected a JSON object (one message or {\"messages\":[...]}), got %v", tok).WithDetail("field", "(body)")
	}
	var (
		msgs  []broker.Message
		batch bool
		one   = []byte{'{'} // the fields of a single message, as an object
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		key := tok.(string) // object keys are strings
		if key == "messages" {
			if msgs, err = decodeMessages(dec, maxMessages); err != nil {
				return nil, err
			}
			batch = true
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, jsonError(err)
		}
		if len(one) > 1 {
			one = append(one, ',')
		}
		one = appendString(one, key)
		one = append(one, ':')
		one = append(one, raw...)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, api.ErrBadRequest.Withf("unexpected data after the JSON body")
	}
	if batch && len(one) > 1 {
		return nil, api.ErrBadRequest.Withf(`send either one message or "messages", not both`)
	}
	if batch {
		return msgs, nil
	}
	var pm api.PublishMessage
	if err := decodeJSON(append(one, '}'), &pm); err != nil {
		return nil, err
	}
	m, aerr := decodeMessage(&pm)
	if aerr != nil {
		return nil, aerr
	}
	return []broker.Message{m}, nil
}

// decodeMessages decodes the value of "messages" from dec: an array of at
// most max messages, not null and not empty.
func decodeMessages(dec *json.Decoder, max int) ([]broker.Message, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	if tok != json.Delim('[') {
		return nil, api.ErrInvalidArgument.Withf(`"messages" must be an array of messages, got %v`, tokenKind(tok)).WithDetail("field", "messages")
	}
	var msgs []broker.Message
	for dec.More() {
		i := len(msgs)
		if i == max {
			return nil, api.ErrTooManyMessages.Withf("a publish may hold at most %d messages; split the batch", max).
				WithDetail("max_batch_messages", max)
		}
		var pm api.PublishMessage
		if err := dec.Decode(&pm); err != nil {
			return nil, atIndex(jsonError(err).(*api.Error), i)
		}
		m, err := decodeMessage(&pm)
		if err != nil {
			return nil, atIndex(err, i)
		}
		msgs = append(msgs, m)
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return nil, jsonError(err)
	}
	if len(msgs) == 0 {
		return nil, api.ErrInvalidArgument.Withf(`"messages" is empty`).WithDetail("field", "messages")
	}
	return msgs, nil
}

// tokenKind names a JSON token for an error message.
func tokenKind(tok json.Token) string {
	switch tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		return "an object"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%v", tok)
}

// atIndex is err about message i of a batch.
func atIndex(err *api.Error, i int) *api.Error {
	e := *err
	e.Message = fmt.Sprintf("message %d: %s", i, err.Message)
	return e.WithDetail("index", i)
}

// decodeMessage applies the value rules of api.PublishMessage: a JSON string
// is stored as its text; any other JSON value as its JSON text, marked with
// attrJSON; value_base64 as raw bytes; null or absent as a null value.
func decodeMessage(pm *api.PublishMessage) (broker.Message, *api.Error) {
	m := broker.Message{Partition: broker.AnyPartition, Timestamp: pm.Timestamp}
	switch {
	case pm.Key != nil && pm.KeyBase64 != nil:
		return m, invalidField("key", `set "key" or "key_base64", not both`)
	case pm.Key != nil:
		m.Key = []byte(*pm.Key)
	case pm.KeyBase64 != nil:
		m.Key = pm.KeyBase64
	}
	value := pm.Value
	if bytes.Equal(value, []byte("null")) {
		value = nil
	}
	switch {
	case value != nil && pm.ValueBase64 != nil:
		return m, invalidField("value", `set "value" or "value_base64", not both`)
	case pm.ValueBase64 != nil:
		m.Value = pm.ValueBase64
	case len(value) > 0 && value[0] == '"':
		s, err := unquote(value)
		if err != nil {
			return m, invalidField("value", "value is not a valid JSON string")
		}
		m.Value = s
	case value != nil:
		if !utf8.Valid(value) {
			return m, invalidField("value", "value is JSON with invalid UTF-8; send bytes in value_base64")
		}
		m.Value = value // a RawMessage owns its bytes
		m.Attributes |= attrJSON
	}
	if pm.Partition != nil {
		if *pm.Partition < 0 {
			return m, api.ErrPartitionNotFound.Withf("partition %d is negative", *pm.Partition).
				WithDetail("partition", *pm.Partition)
		}
		m.Partition = *pm.Partition
	}
	switch {
	case pm.Headers != nil && pm.HeaderList != nil:
		return m, invalidField("headers", `set "headers" or "header_list", not both`)
	case len(pm.Headers) > 0:
		m.Headers = make([]commitlog.Header, 0, len(pm.Headers))
		for k, v := range pm.Headers {
			m.Headers = append(m.Headers, commitlog.Header{Key: k, Value: []byte(v)})
		}
		slices.SortFunc(m.Headers, func(a, b commitlog.Header) int { return strings.Compare(a.Key, b.Key) })
	case len(pm.HeaderList) > 0:
		m.Headers = make([]commitlog.Header, len(pm.HeaderList))
		for i, h := range pm.HeaderList {
			switch {
			case h.Key != nil && h.KeyBase64 != nil:
				return m, invalidField("header_list", `header %d: set "key" or "key_base64", not both`, i).WithDetail("header", i)
			case h.Key != nil:
				m.Headers[i].Key = *h.Key
			case h.KeyBase64 != nil:
				m.Headers[i].Key = string(h.KeyBase64)
			default:
				return m, invalidField("header_list", `header %d has no "key" (or "key_base64")`, i).WithDetail("header", i)
			}
			switch {
			case h.Value != nil && h.ValueBase64 != nil:
				return m, invalidField("header_list", `header %d: set "value" or "value_base64", not both`, i).WithDetail("header", i)
			case h.Value != nil:
				m.Headers[i].Value = []byte(*h.Value)
			case h.ValueBase64 != nil:
				m.Headers[i].Value = h.ValueBase64
			}
		}
	}
	return m, nil
}

// headerOrder returns the indexes of hs sorted by key (equal keys in their
// order), and whether the headers object says hs exactly: every key and
// value valid UTF-8, no null value, no key twice. Otherwise a message
// carries them in header_list.
func headerOrder(hs []commitlog.Header) ([]int, bool) {
	order := make([]int, len(hs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(hs[a].Key, hs[b].Key) })
	for i, h := range order {
		if hs[h].Value == nil || !utf8.ValidString(hs[h].Key) || !utf8.Valid(hs[h].Value) ||
			i > 0 && hs[order[i-1]].Key == hs[h].Key {
			return order, false
		}
	}
	return order, true
}

// headerList is hs as header_list entries: text as text, other bytes in
// base64, a null value as neither.
func headerList(hs []commitlog.Header) []api.Header {
	out := make([]api.Header, len(hs))
	for i, h := range hs {
		if utf8.ValidString(h.Key) {
			out[i].Key = &h.Key
		} else {
			out[i].KeyBase64 = []byte(h.Key)
		}
		switch {
		case h.Value == nil:
		case utf8.Valid(h.Value):
			v := string(h.Value)
			out[i].Value = &v
		default:
			out[i].ValueBase64 = h.Value
		}
	}
	return out
}

// unquote returns the text of a JSON string literal that the decoder has
// already checked. Without escapes and with valid UTF-8 the text is the
// literal's inside, shared rather than copied; otherwise encoding/json
// unescapes it (and replaces invalid UTF-8, as it always does).
func unquote(lit []byte) ([]byte, error) {
	if inner := lit[1 : len(lit)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner, nil
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// encodeRecord is the wire form of a stored record, the reverse of
// decodeMessage: JSON comes back as the same JSON, text as a JSON string, and
// other bytes in value_base64 (keys likewise, in key or key_base64).
func encodeRecord(topic string, partition int32, r *commitlog.Record) api.Message {
	m := api.Message{Topic: topic, Partition: partition, Offset: r.Offset, Timestamp: r.Timestamp}
	if r.Key != nil {
		if utf8.Valid(r.Key) {
			k := string(r.Key)
			m.Key = &k
		} else {
			m.KeyBase64 = r.Key
		}
	}
	if r.Value != nil {
		switch {
		case r.Attributes&attrJSON != 0 && json.Valid(r.Value):
			m.Value = r.Value
		case utf8.Valid(r.Value):
			m.Value = quote(r.Value)
		default:
			m.ValueBase64 = r.Value
		}
	}
	if len(r.Headers) > 0 {
		if _, ok := headerOrder(r.Headers); !ok {
			m.HeaderList = headerList(r.Headers)
			return m
		}
		m.Headers = make(map[string]string, len(r.Headers))
		for _, h := range r.Headers {
			m.Headers[h.Key] = string(h.Value)
		}
	}
	return m
}

// quote returns s as a JSON string, without HTML escaping so that text comes
// back byte for byte.
func quote(s []byte) json.RawMessage {
	var buf bytes.Buffer
	buf.Grow(len(s) + 2)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(string(s)) // a string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// appendMessage appends the JSON of the api.Message that encodeRecord makes
// of r (with deliveryCount), byte for byte what encoding/json writes for it
// without HTML escaping, and without building the api.Message, its map of
// headers or its quoted value: a large poll answer is mostly these bytes.
func appendMessage(dst []byte, topic string, partition int32, r *commitlog.Record, deliveryCount int) []byte {
	dst = append(dst, `{"topic":`...)
	dst = appendString(dst, topic)
	dst = append(dst, `,"partition":`...)
	dst = strconv.AppendInt(dst, int64(partition), 10)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendInt(dst, r.Offset, 10)
	if r.Key != nil {
		if utf8.Valid(r.Key) {
			dst = append(dst, `,"key":`...)
			dst = appendString(dst, r.Key)
		} else if len(r.Key) > 0 {
			dst = append(dst, `,"key_base64":"`...)
			dst = base64.StdEncoding.AppendEncode(dst, r.Key)
			dst = append(dst, '"')
		}
	}
	if r.Value != nil {
		dst = appendValue(dst, r)
	}
	if len(r.Headers) > 0 {
		dst = appendHeaders(dst, r.Headers)
	}
	dst = append(dst, `,"timestamp":`...)
	dst = strconv.AppendInt(dst, r.Timestamp, 10)
	if deliveryCount != 0 {
		dst = append(dst, `,"delivery_count":`...)
		dst = strconv.AppendInt(dst, int64(deliveryCount), 10)
	}
	return append(dst, '}')
}

// appendValue appends the value field of r (non-nil) as encodeRecord
// chooses it: JSON compacted (as encoding/json does to a RawMessage), text
// as a string, other bytes in value_base64.
func appendValue(dst []byte, r *commitlog.Record) []byte {
	if r.Attributes&attrJSON != 0 && len(r.Value) > 0 {
		head := len(dst)
		buf := bytes.NewBuffer(append(dst, `,"value":`...))
		if json.Compact(buf, r.Value) == nil {
			return buf.Bytes()
		}
		dst = dst[:head] // not JSON after all: as text or bytes below
	}
	switch {
	case utf8.Valid(r.Value):
		dst = append(dst, `,"value":`...)
		return appendString(dst, r.Value)
	case len(r.Value) > 0:
		dst = append(dst, `,"value_base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, r.Value)
		return append(dst, '"')
	}
	return dst
}

// appendHeaders appends the headers field as encodeRecord chooses it: an
// object sorted by key when it says hs exactly, else header_list.
func appendHeaders(dst []byte, hs []commitlog.Header) []byte {
	order, ok := headerOrder(hs)
	if !ok {
		return appendHeaderList(dst, hs)
	}
	dst = append(dst, `,"headers":{`...)
	for i, h := range order {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, hs[h].Key)
		dst = append(dst, ':')
		dst = appendString(dst, hs[h].Value)
	}
	return append(dst, '}')
}

// appendHeaderList appends the header_list field of hs, as encoding/json
// writes headerList's entries.
func appendHeaderList(dst []byte, hs []commitlog.Header) []byte {
	dst = append(dst, `,"header_list":[`...)
	for i, h := range hs {
		if i > 0 {
			dst = append(dst, ',')
		}
		if utf8.ValidString(h.Key) {
			dst = append(dst, `{"key":`...)
			dst = appendString(dst, h.Key)
		} else {
			dst = append(dst, `{"key_base64":"`...)
			dst = base64.StdEncoding.AppendEncode(dst, []byte(h.Key))
			dst = append(dst, '"')
		}
		switch {
		case h.Value == nil:
		case utf8.Valid(h.Value):
			dst = append(dst, `,"value":`...)
			dst = appendString(dst, h.Value)
		default:
			dst = append(dst, `,"value_base64":"`...)
			dst = base64.StdEncoding.AppendEncode(dst, h.Value)
			dst = append(dst, '"')
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendString appends s as a JSON string exactly as encoding/json does
// with HTML escaping off: '"', '\\' and control characters escaped (short
// forms for \b \f \n \r \t), invalid UTF-8 replaced by \ufffd, U+2028 and
// U+2029 escaped, everything else as it is.
func appendString[S string | []byte](dst []byte, s S) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		// A conversion of at most utf8.UTFMax bytes that does not escape
		// is made on the stack.
		c, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
