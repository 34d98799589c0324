package httpapi_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// TestCrossOriginWritesRefused: a broker without API keys must not take
// writes a web page on another site makes a browser send to it (a POST
// with a text/plain body needs no CORS preflight): such a page could
// create topics, publish or reset a group's offsets. The console's own
// requests (same origin) and clients that are not browsers (no Origin,
// no Sec-Fetch-Site) are served.
func TestCrossOriginWritesRefused(t *testing.T) {
	s := brokertest.Start(t)
	send := func(name string, headers map[string]string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.URL+"/topics", bytes.NewReader([]byte(`{"name":"`+name+`","partitions":1}`)))
		req.Header.Set("Content-Type", "text/plain")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, raw
	}
	status, raw := send("a", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"})
	wantError(t, status, raw, api.ErrForbidden)
	status, raw = send("b", map[string]string{"Origin": "http://evil.example"})
	wantError(t, status, raw, api.ErrForbidden)
	if status, raw := send("c", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": s.URL}); status != http.StatusCreated {
		t.Fatalf("same origin: %d %s", status, raw)
	}
	if status, raw := send("d", nil); status != http.StatusCreated {
		t.Fatalf("no browser headers: %d %s", status, raw)
	}
	if n := len(listTopics(t, s)); n != 2 {
		t.Fatalf("%d topics, want 2 (c and d)", n)
	}
}

func listTopics(t *testing.T, s *brokertest.Server) []api.Topic {
	t.Helper()
	resp, err := s.Client().Get(s.URL + "/topics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var l api.TopicList
	mustUnmarshal(t, raw, &l)
	return l.Topics
}
