package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkMiddleware measures what the middleware adds to the cheapest
// route: route lookup, the request histogram, the in-flight gauge, the
// status recorder and, with keys, the constant-time key check.
func BenchmarkMiddleware(b *testing.B) {
	for _, c := range []struct {
		name string
		opts Options
		key  string
	}{
		{"no-auth", Options{}, ""},
		{"api-key", Options{APIKeys: []string{"0123456789abcdef-one", "0123456789abcdef-two"}}, "0123456789abcdef-two"},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := newTestServer(b, c.opts)
			req := httptest.NewRequest("GET", "/topics/t", nil)
			if c.key != "" {
				req.Header.Set("X-API-Key", c.key)
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
