package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// send makes one request with the given headers and returns the status and
// the error code of the answer, if any.
func send(t *testing.T, s *brokertest.Server, method, path string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb api.ErrorBody
	json.Unmarshal(b, &eb)
	code := ""
	if eb.Error != nil {
		code = eb.Error.Code
	}
	if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("%s %s: 401 without WWW-Authenticate", method, path)
	}
	return resp.StatusCode, code
}

func TestAPIKeyAuthentication(t *testing.T) {
	keys := []string{"first-key", "second-key-longer"}
	for _, authHealth := range []bool{false, true} {
		s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
			o.APIKeys = keys
			o.AuthHealth = authHealth
		}))
		for _, c := range []struct {
			name   string
			header map[string]string
			ok     bool
		}{
			{"no key", nil, false},
			{"wrong key", map[string]string{"X-API-Key": "first-kez"}, false},
			{"prefix of a key", map[string]string{"X-API-Key": "first"}, false},
			{"empty bearer", map[string]string{"Authorization": "Bearer "}, false},
			{"basic auth", map[string]string{"Authorization": "Basic Zmlyc3Qta2V5Og=="}, false},
			{"right key", map[string]string{"X-API-Key": "first-key"}, true},
			{"second key", map[string]string{"X-API-Key": "second-key-longer"}, true},
			{"bearer", map[string]string{"Authorization": "Bearer first-key"}, true},
			{"bearer lower case", map[string]string{"Authorization": "bearer second-key-longer"}, true},
		} {
			for _, path := range []string{"/topics", "/metrics", "/openapi.json", "/no/such/route"} {
				st, code := send(t, s, "GET", path, c.header)
				switch {
				case !c.ok && (st != http.StatusUnauthorized || code != api.ErrUnauthorized.Code):
					t.Errorf("%s: GET %s = %d %s, want 401 UNAUTHORIZED", c.name, path, st, code)
				case c.ok && st == http.StatusUnauthorized:
					t.Errorf("%s: GET %s = 401", c.name, path)
				}
			}
			for _, path := range []string{"/healthz", "/livez", "/readyz"} {
				st, _ := send(t, s, "GET", path, c.header)
				if wantOK := c.ok || !authHealth; (st == http.StatusOK) != wantOK {
					t.Errorf("auth health %v, %s: GET %s = %d", authHealth, c.name, path, st)
				}
			}
		}
		s.Stop()
	}
}

func TestNoKeysMeansNoAuthentication(t *testing.T) {
	s := brokertest.Start(t)
	if st, code := send(t, s, "GET", "/topics", nil); st != http.StatusOK {
		t.Fatalf("GET /topics = %d %s", st, code)
	}
}

// scrapeHTTP returns the samples of GET /metrics keyed by series.
func scrapeHTTP(t *testing.T, s *brokertest.Server) map[string]float64 {
	t.Helper()
	st, body := s.Do("GET", "/metrics", nil)
	if st != http.StatusOK {
		t.Fatalf("GET /metrics = %d %s", st, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func TestRequestMetricsUseRoutePatterns(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	for range 3 {
		s.Do("GET", "/topics/orders", nil)
	}
	s.Do("GET", "/topics/missing", nil)
	for i := range 5 {
		s.Do("GET", "/random/"+strconv.Itoa(i), nil)
	}
	m := scrapeHTTP(t, s)
	for series, want := range map[string]float64{
		`goqueue_http_request_duration_seconds_count{code="200",route="GET /topics/{topic}"}`: 3,
		`goqueue_http_request_duration_seconds_count{code="404",route="GET /topics/{topic}"}`: 1,
		`goqueue_http_request_duration_seconds_count{code="201",route="POST /topics"}`:        1,
		`goqueue_http_request_duration_seconds_count{code="404",route="unrouted"}`:            5,
	} {
		if m[series] != want {
			t.Errorf("%s = %v, want %v", series, m[series], want)
		}
	}
	for series := range m {
		if strings.Contains(series, "/random/") || strings.Contains(series, "/topics/orders") {
			t.Errorf("a URL leaked into a label: %s", series)
		}
	}
}

// A header block over the limit is refused as every other request is:
// counted in the request metrics under its route with code 431, and in the
// debug access log that every client error goes to.
func TestHeadersTooLargeIsCountedAndLogged(t *testing.T) {
	const limit = 4 << 10
	logs := &recordedLogs{}
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.MaxHeaderBytes = limit
		o.Logger = slog.New(logs)
	}))
	addr := strings.TrimPrefix(s.URL, "http://")
	for _, c := range []struct{ n, want int }{
		{limit, http.StatusOK},
		{limit + 1, http.StatusRequestHeaderFieldsTooLarge},
		{2 * limit, http.StatusRequestHeaderFieldsTooLarge},
	} {
		resp, body := testkit.SendRaw(t, addr, testkit.RequestHead(t, "GET /topics HTTP/1.1", c.n))
		if resp.StatusCode != c.want {
			t.Fatalf("a head of %d bytes, limit %d: %d %.100q, want %d", c.n, limit, resp.StatusCode, body, c.want)
		}
	}
	m := scrapeHTTP(t, s)
	for series, want := range map[string]float64{
		`goqueue_http_request_duration_seconds_count{code="200",route="GET /topics"}`: 1,
		`goqueue_http_request_duration_seconds_count{code="431",route="GET /topics"}`: 2,
	} {
		if m[series] != want {
			t.Errorf("%s = %v, want %v", series, m[series], want)
		}
	}
	if got := logs.requests(http.StatusRequestHeaderFieldsTooLarge); got != 2 {
		t.Errorf("%d debug request lines with status 431, want 2", got)
	}
}

// recordedLogs is a slog.Handler that keeps every record.
type recordedLogs struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *recordedLogs) Enabled(context.Context, slog.Level) bool { return true }
func (l *recordedLogs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *recordedLogs) WithGroup(string) slog.Handler            { return l }
func (l *recordedLogs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}

// requests counts the debug "request" lines (the access log) with status.
func (l *recordedLogs) requests(status int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "status" && a.Value.Int64() == int64(status) && r.Message == "request" && r.Level == slog.LevelDebug {
				n++
			}
			return true
		})
	}
	return n
}

// A handler that decodes the body itself still cannot read past
// MaxBodyBytes: the middleware caps every body.
func TestBodyLimitOnEveryRoute(t *testing.T) {
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.MaxBodyBytes = 1 << 10 }))
	big := `{"topics":["` + strings.Repeat("a", 4<<10) + `"]}`
	for _, path := range []string{"/topics", "/groups/g/join", "/topics/x/messages"} {
		var eb api.ErrorBody
		st := s.DoJSON("POST", path, big, &eb)
		if st != http.StatusRequestEntityTooLarge || eb.Error == nil || eb.Error.Code != api.ErrBodyTooLarge.Code {
			t.Errorf("POST %s with 4 KiB over a 1 KiB limit = %d %+v", path, st, eb.Error)
		}
	}
}
