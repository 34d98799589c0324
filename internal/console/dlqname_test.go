package console_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/console"
)

// TestDLQNameMatchesBroker checks that the console names a topic's DLQ as
// the broker does (api.DLQName), long names with their hash included, and
// that its SHA-256 is SHA-256 across the padding's block boundaries.
func TestDLQNameMatchesBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	srv := httptest.NewServer(console.New())
	t.Cleanup(srv.Close)
	b.run(chromedp.Navigate(srv.URL + "/ui/style.css")) // a page of the console's origin, without the app

	long := strings.Repeat("orders.eu-west-1_", 20) // 340 characters
	names := []string{"orders", "a", strings.Repeat("a", 244), strings.Repeat("a", 245), strings.Repeat("a", 246),
		strings.Repeat("b", 249), long[:249], long[:248] + "X", long[:300]}
	in, _ := json.Marshal(names)
	got := eval[[]string](b, `import('/ui/dlqname.js').then(m => `+string(in)+`.map(m.dlqName))`)
	for i, n := range names {
		if want := api.DLQName(n); i >= len(got) || got[i] != want {
			t.Errorf("DLQ of a %d-character topic: console %q, broker %q", len(n), got[min(i, len(got)-1)], want)
		}
	}
	if got[len(got)-2] == got[len(got)-3] {
		t.Errorf("two long names sharing a prefix got the same DLQ %q", got[len(got)-2])
	}

	lens := []int{0, 3, 55, 56, 63, 64, 65, 119, 120, 1000} // one and two blocks of padding
	in, _ = json.Marshal(lens)
	sums := eval[[]string](b, `import('/ui/dlqname.js').then(m => `+string(in)+`.map(n => m.sha256hex(new TextEncoder().encode('x'.repeat(n)))))`)
	for i, n := range lens {
		sum := sha256.Sum256([]byte(strings.Repeat("x", n)))
		if want := hex.EncodeToString(sum[:]); sums[i] != want {
			t.Errorf("SHA-256 of %d bytes: console %s, want %s", n, sums[i], want)
		}
	}
	b.noErrors()
}
