package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// FuzzDecodePublish: any body either decodes to messages that obey the
// decoder's rules or fails with a coded client error; it never panics.
func FuzzDecodePublish(f *testing.F) {
	for _, s := range []string{
		`{"value":"hello"}`,
		`{"key":"k","value":{"a":[1,2,{"b":null}]},"headers":{"h":"v"},"partition":0,"timestamp":1}`,
		`{"messages":[{"value":1},{"value_base64":"AAE="},{"key_base64":"/w=="}]}`,
		`{"messages":[]}`, `{"value":"\ud800"}`, `{"value":1e999}`, `[]`, `null`, `"x"`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, err := decodePublish(bytes.NewReader(body), 100)
		if err != nil {
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Status != 400 && ae.Status != 404 && ae.Code != api.ErrTooManyMessages.Code {
				t.Fatalf("decodePublish error %v is not a coded client error", err)
			}
			return
		}
		if len(msgs) == 0 {
			t.Fatal("no error and no messages")
		}
		for i, m := range msgs {
			if m.Partition < 0 && m.Partition != broker.AnyPartition {
				t.Fatalf("message %d: partition %d", i, m.Partition)
			}
			if m.Attributes&^attrJSON != 0 {
				t.Fatalf("message %d: attributes %#x", i, m.Attributes)
			}
			// What is stored reads back as valid JSON.
			enc := encodeRecord("t", 0, &commitlog.Record{Key: m.Key, Value: m.Value, Attributes: m.Attributes})
			if enc.Value != nil && !json.Valid(enc.Value) {
				t.Fatalf("message %d: value %q reads back as invalid JSON", i, enc.Value)
			}
		}
	})
}
