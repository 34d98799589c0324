package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// Each published value is stored as the rule says and comes back as the
// JSON that was sent.
func TestValueRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name      string
		body      string
		stored    []byte // nil: a null value
		attrs     int8
		wantValue string // the "value" field read back; "" when absent
		wantB64   []byte
	}{
		{"text", `{"value":"hello"}`, []byte("hello"), 0, `"hello"`, nil},
		{"empty text", `{"value":""}`, []byte{}, 0, `""`, nil},
		{"html text", `{"value":"<a&b>"}`, []byte("<a&b>"), 0, `"<a&b>"`, nil},
		{"escaped text", `{"value":"line\nbreak \u00e9 \"q\""}`, []byte("line\nbreak é \"q\""), 0, `"line\nbreak é \"q\""`, nil},
		{"text that looks like JSON", `{"value":"{\"a\":1}"}`, []byte(`{"a":1}`), 0, `"{\"a\":1}"`, nil},
		{"object", `{"value":{"id":1,"items":["a","b"]}}`, []byte(`{"id":1,"items":["a","b"]}`), attrJSON, `{"id":1,"items":["a","b"]}`, nil},
		{"array", `{"value":[1,2,3]}`, []byte(`[1,2,3]`), attrJSON, `[1,2,3]`, nil},
		{"number kept exactly", `{"value":12345678901234567890.5e3}`, []byte(`12345678901234567890.5e3`), attrJSON, `12345678901234567890.5e3`, nil},
		{"string of a number stays a string", `{"value":"42"}`, []byte("42"), 0, `"42"`, nil},
		{"true", `{"value":true}`, []byte(`true`), attrJSON, `true`, nil},
		{"null", `{"value":null}`, nil, 0, "", nil},
		{"absent", `{"key":"k"}`, nil, 0, "", nil},
		{"binary", `{"value_base64":"AP/+gA=="}`, []byte{0, 0xff, 0xfe, 0x80}, 0, "", []byte{0, 0xff, 0xfe, 0x80}},
		{"base64 of text reads back as text", `{"value_base64":"aGk="}`, []byte("hi"), 0, `"hi"`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			msgs, err := decodePublish(strings.NewReader(c.body), 1000)
			if err != nil {
				t.Fatalf("decodePublish: %v", err)
			}
			m := msgs[0]
			if (m.Value == nil) != (c.stored == nil) || !bytes.Equal(m.Value, c.stored) || m.Attributes != c.attrs {
				t.Fatalf("stored value %q (nil=%v) attrs %d, want %q (nil=%v) attrs %d", m.Value, m.Value == nil, m.Attributes, c.stored, c.stored == nil, c.attrs)
			}
			got := encodeRecord("t", 0, &commitlog.Record{Value: m.Value, Attributes: m.Attributes})
			if string(got.Value) != c.wantValue || !bytes.Equal(got.ValueBase64, c.wantB64) {
				t.Fatalf("read back value=%s value_base64=%x, want %s and %x", got.Value, got.ValueBase64, c.wantValue, c.wantB64)
			}
			if c.wantValue != "" && !json.Valid(got.Value) {
				t.Fatalf("read back value %q is not JSON", got.Value)
			}
		})
	}
}

func TestKeyRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name    string
		body    string
		stored  []byte
		wantKey *string
		wantB64 []byte
	}{
		{"text", `{"key":"user-1"}`, []byte("user-1"), ptr("user-1"), nil},
		{"empty", `{"key":""}`, []byte{}, ptr(""), nil},
		{"none", `{"value":1}`, nil, nil, nil},
		{"binary", `{"key_base64":"/wA="}`, []byte{0xff, 0}, nil, []byte{0xff, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			msgs, err := decodePublish(strings.NewReader(c.body), 1000)
			if err != nil {
				t.Fatalf("decodePublish: %v", err)
			}
			if k := msgs[0].Key; (k == nil) != (c.stored == nil) || !bytes.Equal(k, c.stored) {
				t.Fatalf("stored key %q, want %q", k, c.stored)
			}
			got := encodeRecord("t", 0, &commitlog.Record{Key: msgs[0].Key})
			if diff := cmp.Diff(c.wantKey, got.Key); diff != "" || !bytes.Equal(got.KeyBase64, c.wantB64) {
				t.Fatalf("read back key %v / %x, want %v / %x", got.Key, got.KeyBase64, c.wantKey, c.wantB64)
			}
		})
	}
}

// Bytes that are not UTF-8 (stored through a Kafka client, say) come back in
// value_base64; a JSON mark on bytes that are not JSON is ignored rather
// than breaking the response.
func TestEncodeRecordOddBytes(t *testing.T) {
	m := encodeRecord("t", 0, &commitlog.Record{Value: []byte{'a', 0xc3}, Key: []byte{0xc3}})
	if m.Value != nil || !bytes.Equal(m.ValueBase64, []byte{'a', 0xc3}) || m.Key != nil || !bytes.Equal(m.KeyBase64, []byte{0xc3}) {
		t.Fatalf("invalid UTF-8: %+v", m)
	}
	m = encodeRecord("t", 0, &commitlog.Record{Value: []byte("not json"), Attributes: attrJSON})
	if string(m.Value) != `"not json"` {
		t.Fatalf("JSON mark on text: value %s", m.Value)
	}
}

func TestDecodePublishFields(t *testing.T) {
	msgs, err := decodePublish(strings.NewReader(`{"messages":[
		{"key":"a","value":1,"headers":{"z":"1","a":"2"},"partition":2,"timestamp":1700000000000},
		{"value":"b"}]}`), 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := []broker.Message{
		{Key: []byte("a"), Value: []byte("1"), Attributes: attrJSON, Partition: 2, Timestamp: 1700000000000,
			Headers: []commitlog.Header{{Key: "a", Value: []byte("2")}, {Key: "z", Value: []byte("1")}}},
		{Value: []byte("b"), Partition: broker.AnyPartition},
	}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Fatalf("decodePublish (-want +got):\n%s", diff)
	}
}

func TestDecodePublishErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		body  string
		want  *api.Error
		index int // -1: no index detail
	}{
		{"empty body", ``, api.ErrBadRequest, -1},
		{"malformed", `{"value":`, api.ErrBadRequest, -1},
		{"not an object", `[1,2]`, api.ErrInvalidArgument, -1},
		{"syntax", `{"value":tru}`, api.ErrBadRequest, -1},
		{"trailing data", `{"value":1} {"value":2}`, api.ErrBadRequest, -1},
		{"unknown field", `{"valeu":1}`, api.ErrBadRequest, -1},
		{"wrong type", `{"key":5}`, api.ErrInvalidArgument, -1},
		{"bad base64", `{"value_base64":"!!"}`, api.ErrInvalidArgument, -1},
		{"both values", `{"value":"a","value_base64":"YQ=="}`, api.ErrInvalidArgument, -1},
		{"both keys", `{"key":"a","key_base64":"YQ=="}`, api.ErrInvalidArgument, -1},
		{"negative partition", `{"value":1,"partition":-1}`, api.ErrPartitionNotFound, -1},
		{"one and many", `{"value":1,"messages":[{"value":2}]}`, api.ErrBadRequest, -1},
		{"empty batch", `{"messages":[]}`, api.ErrInvalidArgument, -1},
		// A null batch once stored one null message.
		{"null batch", `{"messages":null}`, api.ErrInvalidArgument, -1},
		{"batch not an array", `{"messages":{"value":1}}`, api.ErrInvalidArgument, -1},
		{"type error in batch", `{"messages":[{"value":1},{"key":5}]}`, api.ErrInvalidArgument, 1},
		{"unknown field in batch", `{"messages":[{"valeu":1}]}`, api.ErrBadRequest, 0},
		{"more than the cap", `{"messages":[` + strings.Repeat(`{},`, 1000) + `{}]}`, api.ErrTooManyMessages, -1},
		{"bad third message", `{"messages":[{"value":1},{"value":2},{"value":3,"value_base64":"YQ=="}]}`, api.ErrInvalidArgument, 2},
		{"bad partition in batch", `{"messages":[{"value":1},{"partition":-4}]}`, api.ErrPartitionNotFound, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodePublish(strings.NewReader(c.body), 1000)
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != c.want.Code {
				t.Fatalf("decodePublish(%s) = %v, want %s", c.body, err, c.want.Code)
			}
			idx, ok := ae.Details["index"]
			if c.index < 0 && ok || c.index >= 0 && idx != c.index {
				t.Fatalf("details %v, want index %d", ae.Details, c.index)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// Any text survives the trip: published as a JSON string (escaped or not),
// stored as its bytes, and read back as a JSON string of the same text.
func TestTextRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		text := rapid.String().Draw(t, "text")
		lit, _ := json.Marshal(text) // escapes <, >, & and control characters
		msgs, err := decodePublish(strings.NewReader(`{"value":`+string(lit)+`}`), 1000)
		if err != nil {
			t.Fatalf("decodePublish(%s): %v", lit, err)
		}
		if string(msgs[0].Value) != text || msgs[0].Attributes != 0 {
			t.Fatalf("stored %q attrs %d, want %q", msgs[0].Value, msgs[0].Attributes, text)
		}
		var back string
		if err := json.Unmarshal(encodeRecord("t", 0, &commitlog.Record{Value: msgs[0].Value}).Value, &back); err != nil || back != text {
			t.Fatalf("read back %q (%v), want %q", back, err, text)
		}
	})
}
