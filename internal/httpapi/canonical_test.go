package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// TestUncleanPathsAreCodedErrors: a path the mux would redirect to its
// cleaned form answers a coded JSON 404, never a 307 with an HTML body.
func TestUncleanPathsAreCodedErrors(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	noFollow := &http.Client{Transport: s.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/topics/..", "/topics/./orders", "/topics//orders", "/topics/orders/../orders"} {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		req.URL.Opaque = path // sent as written, not cleaned by the client
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("GET %s: Content-Type %q, body %q", path, ct, raw)
		}
		wantError(t, resp.StatusCode, raw, api.ErrNotFound)
	}
}

// TestNonCanonicalIntegersRefused: "+1", "01" and " 1" are not read as 1 in
// a path or a query.
func TestNonCanonicalIntegersRefused(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	publish(t, s, "orders", map[string]any{"value": "x", "partition": 1})
	for _, path := range []string{
		"/topics/orders/partitions/+1/messages",
		"/topics/orders/partitions/01/messages",
		"/topics/orders/partitions/%201/messages",
		"/topics/orders/partitions/1/messages?offset=+0",
		"/topics/orders/partitions/1/messages?offset=00",
		"/topics/orders/partitions/1/messages?max=+5",
		"/topics/orders/partitions/1/messages?wait_ms=-0",
		"/topics/orders/partitions/1/messages?timestamp=+1",
	} {
		status, raw := s.Do("GET", path, nil)
		wantError(t, status, raw, api.ErrInvalidArgument)
	}
	// The canonical spellings still work.
	if got := fetch(t, s, "orders", 1, "offset=0&max=5&wait_ms=0"); len(got.Messages) != 1 {
		t.Fatalf("canonical fetch: %+v", got)
	}
}
