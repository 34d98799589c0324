package client

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

func TestFromWireValues(t *testing.T) {
	tests := []struct {
		name      string
		wire      string
		key, want []byte
	}{
		{"plain text", `{"value":"hello"}`, nil, []byte("hello")},
		{"escaped text", `{"value":"a\"b\\n\u00e9"}`, nil, []byte("a\"b\\né")},
		{"json object", `{"value":{"a":1}}`, nil, []byte(`{"a":1}`)},
		{"number", `{"value":42}`, nil, []byte("42")},
		{"null", `{"value":null}`, nil, nil},
		{"absent", `{}`, nil, nil},
		{"base64", `{"value_base64":"AP8="}`, nil, []byte{0, 0xff}},
		{"key text", `{"key":"k","value":"v"}`, []byte("k"), []byte("v")},
		{"key base64", `{"key_base64":"AQ==","value":"v"}`, []byte{1}, []byte("v")},
		{"empty string", `{"value":""}`, nil, []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w api.Message
			if err := json.Unmarshal([]byte(tt.wire), &w); err != nil {
				t.Fatal(err)
			}
			m := fromWire(&w)
			if !bytes.Equal(m.Value, tt.want) || (m.Value == nil) != (tt.want == nil) || !bytes.Equal(m.Key, tt.key) {
				t.Fatalf("key %q value %q, want %q %q", m.Key, m.Value, tt.key, tt.want)
			}
		})
	}
}
