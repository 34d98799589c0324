package console_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/abd-ulbasit/goqueue/internal/console"
)

// A broker that takes the connection but never answers (stopped with
// SIGSTOP, cut off) is reported, and the console goes on to other pages.
// The first unanswered request held every later refresh behind it: the
// page showed its old data as "updated" at the last answer, and no
// other page opened.
func TestConsoleReportsABrokerThatDoesNotAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	stop := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("GET /ui/", console.New())
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { // every API request hangs
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { close(stop); srv.Close() })
	b.run(chromedp.Navigate(srv.URL + "/ui/?poll=200&timeout=300#/"))
	b.waitJS("the time-out", `document.getElementById('error').innerText.includes('TIMEOUT') && document.getElementById('status').innerText === 'update failed'`, 10*time.Second)
	b.js(`location.hash = '#/nowhere'`)
	b.waitJS("another page", `document.querySelector('h1')?.textContent === 'Not found'`, 10*time.Second)
}
