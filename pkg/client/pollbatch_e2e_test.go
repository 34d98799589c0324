package client_test

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// pollProxy forwards to a broker and records the Content-Type of its poll
// answers. With accept set it sends that Accept header instead of the
// client's, as an older client did: JSON alone, or the older binary answer
// and JSON; the broker must answer what that client knows.
type pollProxy struct {
	*httptest.Server
	mu    sync.Mutex
	types map[string]int // Content-Type of poll answers; guarded by mu
	sizes []int          // body sizes of poll answers, in order; guarded by mu
}

func newPollProxy(t *testing.T, target string, accept string) *pollProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &pollProxy{types: make(map[string]int)}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			if accept != "" {
				r.Out.Header.Set("Accept", accept)
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			if strings.HasSuffix(resp.Request.URL.Path, "/poll") {
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				resp.Body = io.NopCloser(bytes.NewReader(body))
				p.mu.Lock()
				p.types[resp.Header.Get("Content-Type")]++
				p.sizes = append(p.sizes, len(body))
				p.mu.Unlock()
				return err
			}
			return nil
		},
	}
	p.Server = httptest.NewServer(rp)
	t.Cleanup(p.Close)
	return p
}

// seen is a copy of the Content-Types answered so far.
func (p *pollProxy) seen() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.types)
}

// consumeAll polls group on topic through brokerURL until n messages came.
func consumeAll(t *testing.T, brokerURL, group, topic string, n int) []*client.Message {
	t.Helper()
	c := newPollingConsumer(t, client.ConsumerConfig{Brokers: []string{brokerURL}, GroupID: group, Topics: []string{topic}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []*client.Message
	for len(got) < n {
		msgs, err := c.Poll(ctx, 1000)
		if err != nil {
			t.Fatalf("poll after %d of %d messages: %v", len(got), n, err)
		}
		for _, m := range msgs {
			if err := c.Ack(m); err != nil {
				t.Fatal(err)
			}
		}
		got = append(got, msgs...)
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b *client.Message) int { return int(a.Offset - b.Offset) })
	return got
}

// TestPollBinaryMatchesJSON publishes every kind of key, value and headers
// there is, by JSON and by batches, and reads them in three groups: one
// through the stored-batches answer (what the client asks for), one
// through the older binary answer (what an older client asks for), one
// through the JSON answer. The client must hand out the same messages
// every way.
func TestPollBinaryMatchesJSON(t *testing.T) {
	srv := brokertest.Start(t)
	admin, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const topic = "mixed"
	if _, err := admin.CreateTopic(ctx, api.CreateTopicRequest{Name: topic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	// By JSON, whitespace kept: JSON values are stored as sent.
	body := `{"messages":[
		{"value":{ "a" : [1, 2,
			"x y"] }},
		{"value":null},
		{"value":  42 },
		{"value":true},
		{"value":[]},
		{"value":"text with \"quotes\" and \u00e9 é"},
		{"value":""},
		{"key":"","value":"empty key"},
		{"key":"k","headers":{"h":"v","e":""}},
		{"key_base64":"/w==","value_base64":"AP8="},
		{"value_base64":""},
		{"value":"<html>&amp;</html>"}
	]}`
	if code, out := srv.Do(http.MethodPost, "/topics/"+topic+"/messages", []byte(body)); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("publish: %d %s", code, out)
	}
	// By batches: bytes, nil and empty values, repeated header keys.
	p := newProducer(t, srv.URL, client.ProducerConfig{})
	records := []*client.Record{
		{Key: []byte{0xff, 0x00}, Value: []byte{0xc3, 0x28}},
		{Value: nil},
		{Key: []byte{}, Value: []byte{}},
		{Value: []byte(`{"not":"json attr"}`), Headers: []client.Header{{Key: "a", Value: []byte("1")}, {Key: "a", Value: []byte("2")}, {Key: "n"}}},
		{Value: []byte("plain"), Timestamp: time.UnixMilli(1_700_000_000_123)},
	}
	for _, r := range records {
		if _, err := p.Publish(ctx, topic, r); err != nil {
			t.Fatal(err)
		}
	}
	const n = 17

	stored := newPollProxy(t, srv.URL, "")
	older := newPollProxy(t, srv.URL, api.PollBatchesContentType+", application/json")
	jsonOnly := newPollProxy(t, srv.URL, "application/json")
	viaBinary := consumeAll(t, stored.URL, "stored", topic, n)
	viaOlder := consumeAll(t, older.URL, "older", topic, n)
	viaJSON := consumeAll(t, jsonOnly.URL, "json", topic, n)

	for _, tc := range []struct {
		name  string
		proxy *pollProxy
		want  string
	}{{"stored", stored, api.PollStoredContentType}, {"older binary", older, api.PollBatchesContentType}, {"JSON", jsonOnly, "application/json"}} {
		if seen := tc.proxy.seen(); seen[tc.want] == 0 || len(seen) != 1 {
			t.Fatalf("the %s group's poll answers were %v; want only %s", tc.name, seen, tc.want)
		}
	}
	opts := cmp.Options{cmpopts.IgnoreUnexported(client.Message{})}
	if diff := cmp.Diff(viaJSON, viaBinary, opts); diff != "" {
		t.Errorf("stored-batches poll differs from JSON poll (-json +stored):\n%s", diff)
	}
	if diff := cmp.Diff(viaJSON, viaOlder, opts); diff != "" {
		t.Errorf("older binary poll differs from JSON poll (-json +older):\n%s", diff)
	}
	// Spot checks that the comparison is not between two wrong answers.
	want := map[int64]string{0: `{"a":[1,2,"x y"]}`, 2: "42", 5: `text with "quotes" and é é`, 11: "<html>&amp;</html>", 16: "plain"}
	for off, v := range want {
		if got := string(viaBinary[off].Value); got != v {
			t.Errorf("offset %d: value %q, want %q", off, got, v)
		}
	}
	if viaBinary[1].Value != nil || viaBinary[13].Value != nil {
		t.Errorf("null and nil values: %q, %q; want nil", viaBinary[1].Value, viaBinary[13].Value)
	}
	if got := viaBinary[15].Headers; !cmp.Equal(got, map[string]string{"a": "2", "n": ""}) {
		t.Errorf("repeated headers: %v", got)
	}
	if got := viaBinary[16].Timestamp; !got.Equal(time.UnixMilli(1_700_000_000_123)) {
		t.Errorf("timestamp %v", got)
	}
}
