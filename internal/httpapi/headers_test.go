package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// Headers a Kafka producer or the Go client's binary path can write
// (repeated keys, bytes that are not UTF-8, null values) read back exactly
// over JSON, in header_list, by a fetch and a group's poll, and a JSON
// publish of that header_list stores them again byte for byte. They read
// back with U+FFFD in place of the bytes and the last of a repeated key
// only. Text headers keep the headers object.
func TestHeadersRoundTripExactly(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	exact := []kmsg.Header{
		{Key: "trace", Value: []byte{0xff, 0x00, 'a'}},
		{Key: "trace", Value: []byte("second")},
		{Key: "null", Value: nil},
		{Key: "empty", Value: []byte{}},
		{Key: "\xfe-key", Value: []byte("v")},
	}
	if status, raw := postBatches(t, s, "orders", encodeBatch(0, []testRecord{
		{value: []byte("bin"), ts: 1, hs: exact},
		{value: []byte("text"), ts: 1, hs: []kmsg.Header{{Key: "b", Value: []byte("2")}, {Key: "a", Value: []byte("1")}}},
	})); status != http.StatusOK {
		t.Fatalf("batches: %d %s", status, raw)
	}
	str := func(s string) *string { return &s }
	wantList := []api.Header{
		{Key: str("trace"), ValueBase64: []byte{0xff, 0x00, 'a'}},
		{Key: str("trace"), Value: str("second")},
		{Key: str("null")},
		{Key: str("empty"), Value: str("")},
		{KeyBase64: []byte("\xfe-key"), Value: str("v")},
	}
	check := func(how string, msgs []api.Message) {
		t.Helper()
		if len(msgs) < 2 {
			t.Fatalf("%s: %d messages", how, len(msgs))
		}
		if diff := cmp.Diff(wantList, msgs[0].HeaderList); diff != "" || msgs[0].Headers != nil {
			t.Errorf("%s: header_list (-want +got):\n%s\nheaders %v", how, diff, msgs[0].Headers)
		}
		if want := map[string]string{"a": "1", "b": "2"}; !cmp.Equal(msgs[1].Headers, want) || msgs[1].HeaderList != nil {
			t.Errorf("%s: text headers %v, list %v; want %v", how, msgs[1].Headers, msgs[1].HeaderList, want)
		}
	}
	check("fetch", fetch(t, s, "orders", 0, "offset=0").Messages)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	check("poll", m.poll(10, 0))

	// What a fetch answered publishes again as it was.
	raw, _ := json.Marshal(fetch(t, s, "orders", 0, "offset=0").Messages[0])
	var again api.PublishMessage
	mustUnmarshal(t, raw, &again)
	publish(t, s, "orders", again)
	got := fetch(t, s, "orders", 0, "offset=2").Messages
	if len(got) != 1 || !cmp.Equal(got[0].HeaderList, wantList) {
		t.Fatalf("republished: %+v, want header_list %v", got, wantList)
	}

	for _, c := range []struct {
		name  string
		body  string
		field string
	}{
		{"both forms", `{"value":"v","headers":{"a":"1"},"header_list":[{"key":"a","value":"1"}]}`, "headers"},
		{"no key", `{"value":"v","header_list":[{"value":"1"}]}`, "header_list"},
		{"two keys", `{"value":"v","header_list":[{"key":"a","key_base64":"YQ=="}]}`, "header_list"},
		{"two values", `{"value":"v","header_list":[{"key":"a","value":"1","value_base64":"MQ=="}]}`, "header_list"},
		{"not base64", `{"value":"v","header_list":[{"key":"a","value_base64":"%%"}]}`, ""},
		{"unknown field", `{"value":"v","header_list":[{"key":"a","val":"1"}]}`, ""},
		{"a string", `{"value":"v","header_list":"a=1"}`, ""},
	} {
		status, raw := s.Do("POST", "/topics/orders/messages", []byte(c.body))
		var body api.ErrorBody
		if json.Unmarshal(raw, &body); status != http.StatusBadRequest || body.Error == nil ||
			c.field != "" && body.Error.Details["field"] != c.field {
			t.Errorf("%s: %d %s, want 400 naming field %q", c.name, status, raw, c.field)
		}
	}
	if n := totalMessages(t, s, "orders"); n != 3 {
		t.Fatalf("%d messages, want 3: a refused publish wrote", n)
	}
}
