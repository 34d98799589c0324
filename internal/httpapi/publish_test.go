package httpapi_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// A key lands where a Kafka client's default partitioner puts it; the
// expected partitions come from Kafka's murmur2 vectors worked by hand.
func TestPublishKeyedUsesKafkaPartitioner(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 6)
	for _, c := range []struct {
		key  string
		want int32
	}{
		{"21", 1173551340 % 6},     // murmur2 -973932308
		{"foobar", 1357151166 % 6}, // murmur2 -790332482
		{"abc", 479470107 % 6},
	} {
		for range 3 { // the same key always lands on the same partition
			resp := publish(t, s, "orders", fmt.Sprintf(`{"key":%q,"value":"v"}`, c.key))
			if got := resp.Offsets[0].Partition; got != c.want {
				t.Fatalf("key %q went to partition %d, want %d", c.key, got, c.want)
			}
		}
	}
}

func TestPublishKeylessSpreadsEvenly(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "events", 6)
	var batch strings.Builder
	batch.WriteString(`{"messages":[`)
	for i := range 30 {
		if i > 0 {
			batch.WriteByte(',')
		}
		fmt.Fprintf(&batch, `{"value":%d}`, i)
	}
	batch.WriteString(`]}`)
	publish(t, s, "events", batch.String())
	for range 30 {
		publish(t, s, "events", `{"value":"single"}`)
	}
	for _, p := range describe(t, s, "events").PartitionInfo {
		if p.HighWatermark != 10 {
			t.Fatalf("partition %d got %d of 60 keyless messages, want 10", p.Partition, p.HighWatermark)
		}
	}
}

func TestPublishBatchAnswersInOrder(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "t", 3)
	resp := publish(t, s, "t", `{"messages":[
		{"value":"a","partition":2},{"value":"b","partition":0},{"value":"c","partition":2},
		{"key":"21","value":"d"},{"value":"e","partition":2}]}`)
	// Key "21" hashes to partition 1173551340 % 3 = 0 (Kafka's murmur2 vector).
	want := []api.PublishResult{
		{Partition: 2, Offset: 0}, {Partition: 0, Offset: 0}, {Partition: 2, Offset: 1},
		{Partition: 0, Offset: 1}, {Partition: 2, Offset: 2},
	}
	if resp.Topic != "t" || fmt.Sprint(resp.Offsets) != fmt.Sprint(want) {
		t.Fatalf("offsets %v, want %v", resp.Offsets, want)
	}
	got := fetch(t, s, "t", 2, "offset=0")
	var values []string
	for _, m := range got.Messages {
		values = append(values, string(m.Value))
	}
	if want := `"a" "c"`; !strings.HasPrefix(strings.Join(values, " "), want) {
		t.Fatalf("partition 2 holds %v, want it to start with %s", values, want)
	}
}

func TestPublishHeadersAndTimestamps(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "t", 1)
	before := time.Now().UnixMilli()
	publish(t, s, "t", `{"messages":[
		{"value":"produced","timestamp":1700000000000,"headers":{"trace-id":"abc","content-type":"text/plain"}},
		{"value":"stamped by broker"}]}`)
	after := time.Now().UnixMilli()
	msgs := fetch(t, s, "t", 0, "").Messages
	if len(msgs) != 2 {
		t.Fatalf("got %d messages", len(msgs))
	}
	if m := msgs[0]; m.Timestamp != 1700000000000 || m.Headers["trace-id"] != "abc" || m.Headers["content-type"] != "text/plain" || len(m.Headers) != 2 {
		t.Fatalf("producer timestamp and headers: %+v", m)
	}
	if m := msgs[1]; m.Timestamp < before || m.Timestamp > after || m.Headers != nil {
		t.Fatalf("broker timestamp %d not in [%d, %d], headers %v", m.Timestamp, before, after, m.Headers)
	}
}

// Text and JSON come back as sent, binary through base64, null as null.
func TestPublishedValuesComeBackUnchanged(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "t", 1)
	binary := []byte{0, 1, 0xfe, 0xff, 0x80, '\n'}
	values := []string{
		`"plain text"`, `""`, `"<html> & \"quotes\" ünïcødé 🚀"`, `{"id":1,"nested":{"list":[1,"two",null,true]}}`,
		`[1,2,3]`, `42`, `-1.5e-7`, `18446744073709551616`, `true`, `false`, `"42"`, `"{\"not\":\"json\"}"`,
	}
	var batch []string
	for _, v := range values {
		batch = append(batch, `{"value":`+v+`}`)
	}
	batch = append(batch, `{"value_base64":"`+base64.StdEncoding.EncodeToString(binary)+`","key_base64":"/w=="}`, `{"value":null,"key":"k"}`)
	publish(t, s, "t", `{"messages":[`+strings.Join(batch, ",")+`]}`)

	msgs := fetch(t, s, "t", 0, "max=100").Messages
	if len(msgs) != len(values)+2 {
		t.Fatalf("got %d messages, want %d", len(msgs), len(values)+2)
	}
	for i, v := range values {
		if string(msgs[i].Value) != v {
			t.Errorf("value %d: sent %s, got %s", i, v, msgs[i].Value)
		}
	}
	bin := msgs[len(values)]
	if string(bin.ValueBase64) != string(binary) || bin.Value != nil || string(bin.KeyBase64) != "\xff" || bin.Key != nil {
		t.Errorf("binary: %+v", bin)
	}
	if null := msgs[len(values)+1]; null.Value != nil || null.ValueBase64 != nil || *null.Key != "k" {
		t.Errorf("null value: %+v", null)
	}
}

// Every bad publish gets its coded error and writes nothing, and a batch
// with one bad message writes none of the good ones.
func TestPublishRejectsBadInputAndWritesNothing(t *testing.T) {
	const maxBody = 64 << 10
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.MaxBodyBytes = maxBody }))
	s.Do("POST", "/topics", `{"name":"t","partitions":3,"max_message_bytes":1000}`)
	good := `{"value":"ok"}`
	big := strings.Repeat("x", 1001)
	for _, c := range []struct {
		name  string
		path  string
		body  string
		want  *api.Error
		index int // -1: none expected
	}{
		{"malformed JSON", "/topics/t/messages", `{"value":`, api.ErrBadRequest, -1},
		{"not JSON", "/topics/t/messages", `hello`, api.ErrBadRequest, -1},
		{"empty body", "/topics/t/messages", ``, api.ErrBadRequest, -1},
		{"unknown field", "/topics/t/messages", `{"vaule":"x"}`, api.ErrBadRequest, -1},
		{"value over the topic limit", "/topics/t/messages", `{"value":"` + big + `"}`, api.ErrMessageTooLarge, 0},
		{"headers count toward the limit", "/topics/t/messages", `{"value":"v","headers":{"h":"` + big + `"}}`, api.ErrMessageTooLarge, 0},
		{"body over the limit", "/topics/t/messages", `{"value":"` + strings.Repeat("x", maxBody) + `"}`, api.ErrBodyTooLarge, -1},
		{"unknown topic", "/topics/nope/messages", good, api.ErrTopicNotFound, -1},
		{"bad topic name", "/topics/no*pe/messages", good, api.ErrInvalidTopicName, -1},
		{"unknown partition", "/topics/t/messages", `{"value":1,"partition":3}`, api.ErrPartitionNotFound, 0},
		{"negative partition", "/topics/t/messages", `{"value":1,"partition":-1}`, api.ErrPartitionNotFound, -1},
		{"negative timestamp", "/topics/t/messages", `{"value":1,"timestamp":-5}`, api.ErrInvalidArgument, 0},
		{"bad base64", "/topics/t/messages", `{"value_base64":"%%%"}`, api.ErrInvalidArgument, -1},
		{"empty batch", "/topics/t/messages", `{"messages":[]}`, api.ErrInvalidArgument, -1},
		{"batch: last too large", "/topics/t/messages", `{"messages":[` + good + `,` + good + `,{"value":"` + big + `"}]}`, api.ErrMessageTooLarge, 2},
		{"batch: bad partition", "/topics/t/messages", `{"messages":[` + good + `,{"value":1,"partition":7},` + good + `]}`, api.ErrPartitionNotFound, 1},
		{"batch: bad encoding", "/topics/t/messages", `{"messages":[` + good + `,{"value":"a","value_base64":"YQ=="}]}`, api.ErrInvalidArgument, 1},
		{"batch: bad timestamp", "/topics/t/messages", `{"messages":[` + good + `,{"value":1,"timestamp":-1}]}`, api.ErrInvalidArgument, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, raw := s.Do("POST", c.path, c.body)
			e := wantError(t, st, raw, c.want)
			idx, ok := e.Details["index"]
			if c.index >= 0 && idx != float64(c.index) || c.index < 0 && ok {
				t.Fatalf("details %v, want index %d", e.Details, c.index)
			}
			if n := totalMessages(t, s, "t"); n != 0 {
				t.Fatalf("a refused publish wrote %d messages", n)
			}
		})
	}
	// The limit is exact: a message of exactly max_message_bytes is fine.
	publish(t, s, "t", `{"value":"`+strings.Repeat("x", 1000)+`"}`)
	if st, _ := s.Do("POST", "/topics/t/messages", `{"value":"`+strings.Repeat("x", 1000)+`","key":"k"}`); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("a message one byte over the limit: %d", st)
	}
}

func TestUnknownRoutesAndMethodsAreCoded(t *testing.T) {
	s := brokertest.Start(t)
	for _, c := range []struct {
		method, path string
		want         *api.Error
	}{
		{"GET", "/nope", api.ErrNotFound},
		{"GET", "/topics/t/nope", api.ErrNotFound},
		{"PUT", "/topics", api.ErrMethodNotAllowed},
		{"PUT", "/topics/t", api.ErrMethodNotAllowed},
		{"GET", "/topics/t/messages", api.ErrMethodNotAllowed},
	} {
		st, raw := s.Do(c.method, c.path, nil)
		wantError(t, st, raw, c.want)
	}
	for _, path := range []string{"/healthz", "/livez", "/readyz", "/version"} {
		if st, raw := s.Do("GET", path, nil); st != http.StatusOK {
			t.Errorf("%s: %d %s", path, st, raw)
		}
	}
}

// Every answer, an error echoing the client's input included, tells a
// browser not to sniff it into another type than the JSON it is.
func TestAnswersAreNotSniffed(t *testing.T) {
	s := brokertest.Start(t)
	for _, path := range []string{"/topics/%3Cscript%3E", "/topics", "/nope", "/healthz"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s (%d): X-Content-Type-Options %q", path, resp.StatusCode, got)
		}
	}
}
