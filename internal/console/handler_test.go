package console_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/console"
)

func TestHandlerServesFilesWithTypesAndETags(t *testing.T) {
	h := console.New()
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/ui/", "text/html", `<script type="module" src="/ui/app.js">`},
		{"/ui/group/anything", "text/html", "<html"}, // the app routes on the fragment
		{"/ui/app.js", "text/javascript", "import"},
		{"/ui/style.css", "text/css", "body"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), tc.ctype) || !strings.Contains(rec.Body.String(), tc.contains) {
			t.Errorf("%s: %d %q", tc.path, rec.Code, rec.Header().Get("Content-Type"))
		}
		if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: no CSP", tc.path)
		}
		req := httptest.NewRequest("GET", tc.path, nil)
		req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
		rec2 := httptest.NewRecorder()
		h.ServeHTTP(rec2, req)
		if rec2.Code != http.StatusNotModified {
			t.Errorf("%s with its ETag: %d, want 304", tc.path, rec2.Code)
		}
	}
	// Nothing is fetched from elsewhere: no absolute URL in any file.
	for name := range h.Files() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/"+name, nil))
		b := strings.ReplaceAll(rec.Body.String(), "http://www.w3.org/2000/svg", "") // a namespace name, never fetched
		if strings.Contains(b, "http://") || strings.Contains(b, "https://") || strings.Contains(b, "//cdn") {
			t.Errorf("%s refers to another origin", name)
		}
	}
}
