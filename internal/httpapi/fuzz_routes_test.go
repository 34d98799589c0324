package httpapi_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// fuzzRoutes are the requests FuzzRoutes sends, with a fuzzed query string
// and body; the fuzzed route byte picks one. The group routes are
// FuzzGroupBodies'; deleting topic "t" would leave nothing to fuzz.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/topics"},
	{"GET", "/topics"},
	{"GET", "/topics/t"},
	{"PATCH", "/topics/t"},
	{"POST", "/topics/t/partitions"},
	{"POST", "/topics/t/messages"},
	{"POST", "/topics/t/batches"},
	{"POST", "/producers"},
	{"GET", "/topics/t/partitions/0/messages"},
	{"GET", "/groups/g/lag-history"},
	{"GET", "/groups/g/rebalances"},
	{"GET", "/groups/g/offsets"},
	{"GET", "/groups"},
	{"POST", "/topics/t/dlq/replay"},
	{"GET", "/cluster"},
}

// FuzzRoutes sends a fuzzed query string and body to each endpoint (but
// the group ones, see FuzzGroupBodies) of a real broker: the answer is
// never a 5xx (a handler's panic is one) and is either a success with a
// JSON (or empty) body or a coded error of the table with its status.
func FuzzRoutes(f *testing.F) {
	quiet := slog.New(slog.DiscardHandler)
	srv := brokertest.Start(f,
		brokertest.WithConfig(func(c *broker.Config) { c.Logger = quiet }),
		brokertest.WithHTTP(func(o *httpapi.Options) {
			o.Logger = quiet
			o.MaxWait = 20 * time.Millisecond // a fuzzed wait_ms must not stall the fuzzer
			o.MaxBodyBytes = 1 << 16
		}))
	if st, raw := srv.Do("POST", "/topics", api.CreateTopicRequest{Name: "t", Partitions: 2}); st != http.StatusCreated {
		f.Fatalf("create topic: %d %s", st, raw)
	}
	if st, raw := srv.Do("POST", "/topics/t/messages", `{"messages":[{"value":"a"},{"key":"k","value":{"b":1}}]}`); st >= 300 {
		f.Fatalf("publish: %d %s", st, raw)
	}
	seeds := map[string][]struct{ query, body string }{
		"POST /topics":                        {{"", `{"name":"u","partitions":3,"retention_hours":1,"max_message_bytes":1024}`}, {"", `{"name":"","partitions":-1}`}},
		"GET /topics":                         {{"", ""}, {"prefix=t&limit=1", ""}},
		"GET /topics/t":                       {{"", ""}},
		"PATCH /topics/t":                     {{"", `{"retention_hours":200,"max_message_bytes":null}`}, {"", `{"partitions":4,"retention_bytes":-1}`}},
		"POST /topics/t/partitions":           {{"", `{"count":3}`}},
		"POST /topics/t/messages":             {{"", `{"value":"x","partition":1,"headers":{"h":"v"}}`}},
		"POST /topics/t/batches":              {{"partition=0", "\x00\x00"}},
		"POST /producers":                     {{"", `{}`}},
		"GET /topics/t/partitions/0/messages": {{"offset=0&max_messages=5&wait_ms=10&max_bytes=100", ""}, {"offset=-1&format=batches", ""}, {"timestamp=1&max_messages=x", ""}},
		"GET /groups/g/lag-history":           {{"since=1&limit=3", ""}},
		"GET /groups/g/rebalances":            {{"since=0&limit=-1", ""}},
		"GET /groups/g/offsets":               {{"", ""}},
		"GET /groups":                         {{"", ""}},
		"POST /topics/t/dlq/replay":           {{"", `{"max_messages":1,"to":"t"}`}},
		"GET /cluster":                        {{"", ""}},
	}
	for i, rt := range fuzzRoutes {
		for _, s := range seeds[rt.method+" "+rt.path] {
			f.Add(uint8(i), s.query, []byte(s.body))
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, query string, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		if strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '#' }) {
			return // not a request line: net/http answers it, not the broker
		}
		req, err := http.NewRequest(rt.method, srv.URL+rt.path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", "application/json")
		st, raw := fuzzSend(t, srv, req)
		checkAnswer(t, rt.method+" "+rt.path+"?"+query, st, raw)
	})
}
