package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// headerBytes, read from what net/http parsed, is the length of the head
// as sent in the usual form, the limit's unit.
func TestHeaderBytesIsTheHeadAsSent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strconv.Itoa(headerBytes(r)))
	}))
	defer srv.Close()
	const n = 300
	for _, c := range []struct {
		name, line string
		lines      []string
		want       int
	}{
		{"plain", "GET /topics HTTP/1.1", nil, n},
		{"query and repeated names", "POST /topics/t/messages?x=%20y HTTP/1.1", []string{"X-A: 1", "X-A: 2", "Content-Length: 0"}, n},
		{"HTTP 1.0", "GET /topics HTTP/1.0", nil, n},
		// net/http adds Cache-Control: no-cache, which was not sent.
		{"pragma", "GET /topics HTTP/1.1", []string{"Pragma: no-cache"}, n},
		// net/http moves these of a chunked request out of r.Header.
		{"chunked", "POST /topics HTTP/1.1", []string{"Transfer-Encoding: chunked"}, n},
		{"chunked with trailers", "POST /topics HTTP/1.1", []string{"Transfer-Encoding: chunked", "Trailer: X-A, X-B"}, n},
		// The documented inexact cases: a line without its optional
		// space counts one more, and the Host header of an absolute target
		// is not counted.
		{"no space after the colon", "GET /topics HTTP/1.1", []string{"X-A:1"}, n + 1},
		{"absolute target", "GET http://broker/topics HTTP/1.1", nil, n - len("Host: broker\r\n")},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := testkit.SendRaw(t, srv.Listener.Addr().String(), testkit.RequestHead(t, c.line, n, c.lines...)+bodyOf(c.lines))
			if resp.StatusCode != http.StatusOK || string(body) != strconv.Itoa(c.want) {
				t.Fatalf("%d %q, want 200 %d", resp.StatusCode, body, c.want)
			}
		})
	}
}

// bodyOf is the body that ends a request with head lines: the last chunk
// of a chunked one, else none.
func bodyOf(lines []string) string {
	if slices.Contains(lines, "Transfer-Encoding: chunked") {
		return "0\r\n\r\n"
	}
	return ""
}

// A head up to the limit is served; one byte more, and up to the
// HeaderReadLimit net/http reads whole, is a coded 431; a chunked
// request's head included.
func TestLimitHeaders(t *testing.T) {
	const limit = 4 << 10
	srv := httptest.NewUnstartedServer(LimitHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "served")
	}), limit))
	srv.Config.MaxHeaderBytes = HeaderReadLimit(limit)
	srv.Start()
	defer srv.Close()
	for _, c := range []struct {
		n     int
		lines []string
	}{
		{limit, nil},
		{limit + 1, nil},
		{HeaderReadLimit(limit), nil},
		{limit, []string{"Transfer-Encoding: chunked"}},
		{limit + 1, []string{"Transfer-Encoding: chunked"}},
		{limit + 1, []string{"Transfer-Encoding: chunked", "Trailer: X-A"}},
	} {
		n := c.n
		resp, body := testkit.SendRaw(t, srv.Listener.Addr().String(), testkit.RequestHead(t, "POST /topics HTTP/1.1", n, c.lines...)+bodyOf(c.lines))
		if n <= limit {
			if resp.StatusCode != http.StatusOK || string(body) != "served" {
				t.Errorf("a head of %d bytes %q, limit %d: %d %q", n, c.lines, limit, resp.StatusCode, body)
			}
			continue
		}
		var eb api.ErrorBody
		if err := json.Unmarshal(body, &eb); err != nil || eb.Error == nil {
			t.Fatalf("a head of %d bytes %q, limit %d: %d %q is not a coded error", n, c.lines, limit, resp.StatusCode, body)
		}
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || eb.Error.Code != api.ErrHeadersTooLarge.Code ||
			eb.Error.Details["max_header_bytes"] != float64(limit) || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("a head of %d bytes %q, limit %d: %d %s %q", n, c.lines, limit, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
}
