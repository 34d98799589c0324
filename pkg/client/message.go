package client

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// Message is a message read from the broker. Key and Value hold the bytes as
// published: a value published as a JSON string reads back as its text, any
// other JSON value as its JSON text, and binary exactly.
type Message struct {
	Topic         string
	Partition     int32
	Offset        int64
	Key           []byte // nil: no key
	Value         []byte
	Headers       map[string]string
	Timestamp     time.Time
	DeliveryCount int // group polls only: 1 on the first delivery

	// gen is the consumer session that handed the message out (0 for
	// fetches); an ack from an older session is dropped.
	gen uint64
}

// ref names m on the wire.
func (m *Message) ref() api.MessageRef {
	return api.MessageRef{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
}

// fromWire converts a wire message.
func fromWire(w *api.Message) *Message {
	m := &Message{
		Topic:         w.Topic,
		Partition:     w.Partition,
		Offset:        w.Offset,
		Headers:       w.Headers,
		Timestamp:     time.UnixMilli(w.Timestamp),
		DeliveryCount: w.DeliveryCount,
	}
	if w.HeaderList != nil {
		// The exact form, of headers the object cannot say: the map keeps
		// their bytes, and the last of a repeated key, as headersOf does.
		m.Headers = make(map[string]string, len(w.HeaderList))
		for _, h := range w.HeaderList {
			k := string(h.KeyBase64)
			if h.Key != nil {
				k = *h.Key
			}
			v := string(h.ValueBase64)
			if h.Value != nil {
				v = *h.Value
			}
			m.Headers[k] = v
		}
	}
	switch {
	case w.KeyBase64 != nil:
		m.Key = w.KeyBase64
	case w.Key != nil:
		m.Key = []byte(*w.Key)
	}
	switch {
	case w.ValueBase64 != nil:
		m.Value = w.ValueBase64
	case len(w.Value) >= 2 && w.Value[0] == '"':
		m.Value = jsonText(w.Value)
	case len(w.Value) > 0 && string(w.Value) != "null":
		m.Value = []byte(w.Value)
	}
	return m
}

// jsonText is the text of the JSON string s. A string without escapes (the
// common case) is its bytes between the quotes, without a second decode.
func jsonText(s json.RawMessage) []byte {
	if inner := s[1 : len(s)-1]; bytes.IndexByte(inner, '\\') < 0 {
		return inner
	}
	var t string
	if json.Unmarshal(s, &t) != nil {
		return []byte(s)
	}
	return []byte(t)
}
