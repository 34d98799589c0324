package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"pgregory.net/rapid"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// stdMessageJSON is the reference: encoding/json of encodeRecord's
// api.Message, without HTML escaping and without the Encoder's newline.
func stdMessageJSON(t interface{ Fatal(...any) }, topic string, partition int32, r *commitlog.Record, deliveryCount int) []byte {
	m := encodeRecord(topic, partition, r)
	m.DeliveryCount = deliveryCount
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestAppendMessageMatchesEncodingJSON(t *testing.T) {
	for _, c := range []struct {
		name string
		r    commitlog.Record
		dc   int
	}{
		{"nothing", commitlog.Record{Offset: 0, Timestamp: 0}, 0},
		{"text", commitlog.Record{Offset: 42, Timestamp: 1700000000000, Value: []byte("hello")}, 1},
		{"empty text and key", commitlog.Record{Key: []byte{}, Value: []byte{}}, 0},
		{"html", commitlog.Record{Key: []byte("<k&>"), Value: []byte("<a href='x'>&amp;</a>")}, 3},
		{"escapes", commitlog.Record{Value: []byte("q\" b\\ \b\f\n\r\t \x00\x01\x1f \x7f")}, 0},
		{"unicode", commitlog.Record{Value: []byte("é 日本 🙂 \u2028 \u2029 \ufffd")}, 0},
		{"binary value", commitlog.Record{Value: []byte{0, 0xff, 0xfe, 0x80}}, 0},
		{"binary key", commitlog.Record{Key: []byte{0xc3, 0x28}, Value: []byte("v")}, 0},
		{"json object", commitlog.Record{Value: []byte(`{"id":1,"items":["a","<b>"]}`), Attributes: attrJSON}, 0},
		{"json with spaces", commitlog.Record{Value: []byte(" { \"a\" : [ 1 , 2 ] }\n"), Attributes: attrJSON}, 0},
		{"json number", commitlog.Record{Value: []byte(`12345678901234567890.5e3`), Attributes: attrJSON}, 0},
		{"json flag on text", commitlog.Record{Value: []byte(`not json`), Attributes: attrJSON}, 0},
		{"json flag on binary", commitlog.Record{Value: []byte{0xff}, Attributes: attrJSON}, 0},
		{"json flag on empty", commitlog.Record{Value: []byte{}, Attributes: attrJSON}, 0},
		{"headers", commitlog.Record{Value: []byte("v"), Headers: []commitlog.Header{
			{Key: "b", Value: []byte("2")}, {Key: "a", Value: []byte("1")}, {Key: "é\"", Value: []byte{0xff, 'x'}}}}, 2},
		{"duplicate headers", commitlog.Record{Headers: []commitlog.Header{
			{Key: "k", Value: []byte("first")}, {Key: "a", Value: nil}, {Key: "k", Value: []byte("last")}}}, 0},
		{"negative numbers", commitlog.Record{Offset: 1<<63 - 1, Timestamp: -1}, 1<<31 - 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := stdMessageJSON(t, "orders", 7, &c.r, c.dc)
			got := appendMessage([]byte("prefix"), "orders", 7, &c.r, c.dc)
			if !bytes.Equal(got[len("prefix"):], want) {
				t.Fatalf("got  %s\nwant %s", got[len("prefix"):], want)
			}
		})
	}
}

// Any record, with any bytes in its key, value and headers, encodes as
// encoding/json encodes it.
func TestAppendMessageMatchesEncodingJSONProperty(t *testing.T) {
	anyBytes := rapid.OneOf(
		rapid.SliceOf(rapid.Byte()),
		rapid.Map(rapid.String(), func(s string) []byte { return []byte(s) }),
		rapid.SampledFrom([][]byte{nil, {}, []byte(`{"a": [1, "x"]}`), []byte(" 3 "), []byte("\u2028<&>")}),
	)
	rapid.Check(t, func(t *rapid.T) {
		r := commitlog.Record{
			Offset:     rapid.Int64().Draw(t, "offset"),
			Timestamp:  rapid.Int64().Draw(t, "timestamp"),
			Key:        anyBytes.Draw(t, "key"),
			Value:      anyBytes.Draw(t, "value"),
			Attributes: rapid.SampledFrom([]int8{0, attrJSON}).Draw(t, "attrs"),
		}
		for range rapid.IntRange(0, 3).Draw(t, "headers") {
			r.Headers = append(r.Headers, commitlog.Header{
				Key:   rapid.SampledFrom([]string{"a", "b", "é", "\x00", "<"}).Draw(t, "hkey"),
				Value: anyBytes.Draw(t, "hvalue"),
			})
		}
		topic := rapid.StringMatching(`[a-zA-Z0-9._-]{1,20}`).Draw(t, "topic")
		dc := rapid.IntRange(0, 100).Draw(t, "delivery_count")
		want := stdMessageJSON(t, topic, 3, &r, dc)
		if got := appendMessage(nil, topic, 3, &r, dc); !bytes.Equal(got, want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	})
}

// A poll answer, empty or larger than one chunk, is the bytes writeJSON
// sends for the api.PollResponse.
func TestWritePollMatchesWriteJSON(t *testing.T) {
	for _, n := range []int{0, 1, 3, 2000} {
		got := make([]broker.Delivered, n)
		rebalance, refused := n%2 == 1, n%3
		resp := api.PollResponse{Messages: make([]api.Message, n), Rebalance: rebalance, AckRefused: refused}
		for i := range got {
			got[i] = broker.Delivered{Topic: "orders", Partition: int32(i % 3), DeliveryCount: 1 + i%2,
				Record: commitlog.Record{Offset: int64(i), Timestamp: 1700000000000, Key: []byte("k"), Value: bytes.Repeat([]byte("<x>"), 40)}}
			resp.Messages[i] = encodeRecord(got[i].Topic, got[i].Partition, &got[i].Record)
			resp.Messages[i].DeliveryCount = got[i].DeliveryCount
		}
		want := httptest.NewRecorder()
		writeJSON(want, http.StatusOK, resp)
		rec := httptest.NewRecorder()
		writePoll(rec, got, rebalance, refused)
		if rec.Code != want.Code || rec.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
			t.Fatalf("%d messages: status %d %q, want %d %q", n, rec.Code, rec.Header().Get("Content-Type"), want.Code, want.Header().Get("Content-Type"))
		}
		if !bytes.Equal(rec.Body.Bytes(), want.Body.Bytes()) {
			t.Fatalf("%d messages: bodies differ:\n%.300s\n%.300s", n, rec.Body.Bytes(), want.Body.Bytes())
		}
	}
}

// BenchmarkPollAnswer encodes a poll answer of 1,000 100-byte text
// messages: through api.Message and encoding/json (json) or appendMessage
// (append). ns/op is per message.
func BenchmarkPollAnswer(b *testing.B) {
	got := make([]broker.Delivered, 1000)
	for i := range got {
		got[i] = broker.Delivered{Topic: "orders", Partition: int32(i % 6), DeliveryCount: 1,
			Record: commitlog.Record{Offset: int64(i), Timestamp: 1700000000000, Value: bytes.Repeat([]byte("x"), 100)}}
	}
	w := discardWriter{h: http.Header{}}
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for n := 0; n < b.N; n += len(got) {
			resp := api.PollResponse{Messages: make([]api.Message, len(got))}
			for i := range got {
				resp.Messages[i] = encodeRecord(got[i].Topic, got[i].Partition, &got[i].Record)
				resp.Messages[i].DeliveryCount = got[i].DeliveryCount
			}
			writeJSON(w, http.StatusOK, resp)
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for n := 0; n < b.N; n += len(got) {
			writePoll(w, got, false, 0)
		}
	})
}

type discardWriter struct{ h http.Header }

func (w discardWriter) Header() http.Header         { return w.h }
func (w discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w discardWriter) WriteHeader(int)             {}
