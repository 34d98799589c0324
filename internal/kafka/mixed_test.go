package kafka_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/abd-ulbasit/goqueue/api"
)

// Messages published over HTTP reach a Kafka consumer with the same key,
// value, headers and timestamp; messages produced over Kafka read the same
// over HTTP.
func TestHTTPAndKafkaSeeTheSameMessages(t *testing.T) {
	p := start(t)
	cl := p.client(t, kgo.DefaultProduceTopic("both"))
	createTopic(t, cl, "both", 1)
	ts := time.UnixMilli(1_700_000_123_456)

	pub := `{"messages":[
		{"key":"user-1","value_base64":"AAEC/w==","headers":{"trace":"t1"},"timestamp":1700000123456,"partition":0},
		{"key":"user-2","value":"plain text","headers":{"a":"1","b":"2"},"timestamp":1700000123457,"partition":0}]}`
	if st, body := httpDo(t, p, "POST", "/topics/both/messages", pub); st != http.StatusOK && st != http.StatusCreated {
		t.Fatalf("publish: %d %s", st, body)
	}
	recs := consumeAll(t, p, "both", 2)
	want := []struct {
		key, value string
		headers    map[string]string
		ts         time.Time
	}{
		{"user-1", "\x00\x01\x02\xff", map[string]string{"trace": "t1"}, ts},
		{"user-2", "plain text", map[string]string{"a": "1", "b": "2"}, ts.Add(time.Millisecond)},
	}
	for i, w := range want {
		r := recs[i]
		h := map[string]string{}
		for _, rh := range r.Headers {
			h[rh.Key] = string(rh.Value)
		}
		if string(r.Key) != w.key || string(r.Value) != w.value || fmt.Sprint(h) != fmt.Sprint(w.headers) || !r.Timestamp.Equal(w.ts) {
			t.Errorf("Kafka read HTTP message %d as key %q value %q headers %v ts %v; want %+v", i, r.Key, r.Value, h, r.Timestamp, w)
		}
	}

	// The reverse: produced over Kafka (snappy, idempotent), read over HTTP.
	r := &kgo.Record{Key: []byte("user-3"), Value: []byte("from kafka"), Timestamp: ts.Add(time.Second),
		Headers: []kgo.RecordHeader{{Key: "src", Value: []byte("kgo")}}}
	if err := cl.ProduceSync(ctxT(t), r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	st, body := httpDo(t, p, "GET", "/topics/both/partitions/0/messages?offset=2", "")
	var fr api.FetchResponse
	if err := json.Unmarshal([]byte(body), &fr); st != http.StatusOK || err != nil || len(fr.Messages) != 1 {
		t.Fatalf("HTTP fetch: %d %v %s", st, err, body)
	}
	m := fr.Messages[0]
	value := string(m.ValueBase64)
	if m.ValueBase64 == nil {
		var s string
		if json.Unmarshal(m.Value, &s) == nil {
			value = s
		} else {
			value = string(m.Value)
		}
	}
	if m.Key == nil || *m.Key != "user-3" || value != "from kafka" || m.Headers["src"] != "kgo" || m.Timestamp != ts.Add(time.Second).UnixMilli() || m.Offset != 2 {
		t.Fatalf("HTTP read the Kafka record as %s", body)
	}
}
