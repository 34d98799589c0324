package console_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// A topic page opened before its topic exists shows the error, then the
// topic once it is created. The page read the topic once before the
// shell's polling began, so that first error ended it for good.
func TestConsoleTopicPageRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	s := brokertest.Start(t)
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=200#/topic/late"))
	b.waitJS("the error", `document.getElementById('error').innerText.includes('TOPIC_NOT_FOUND')`, 10*time.Second)
	cl, err := client.New(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateTopic(context.Background(), api.CreateTopicRequest{Name: "late", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	p := int32(0)
	if _, err := cl.Publish(context.Background(), "late", api.PublishMessage{Value: json.RawMessage(`"hello"`), Partition: &p}); err != nil {
		t.Fatal(err)
	}
	b.waitJS("the topic", `document.querySelectorAll('#tparts tbody tr').length === 2 && document.getElementById('error').hidden`, 10*time.Second)
	b.waitJS("its message", `document.querySelector('#browser-out pre.value')?.innerText === 'hello'`, 10*time.Second)
	b.noErrors("404")
}

// A message whose key, header name, header value and DLQ reason are
// thousands of characters without a space stays inside the page, in the
// topic browser and the DLQ, and so do the longest group IDs in the
// pickers. The headers' names took a column as wide as the longest: a
// 3000-character one made the page 22,000 px wide; a picker was as wide
// as its longest group ID (2,300 px for 249 characters).
func TestConsoleLongNamesWrap(t *testing.T) {
	b, s, cl := newConsole(t, "", 0)
	long := func(c string) string { return strings.Repeat(c, 3000) }
	group := strings.Repeat("g", 249) // the longest group ID
	k := long("k")
	msg := api.PublishMessage{Key: &k, Value: json.RawMessage(`"` + long("v") + `"`), Headers: map[string]string{
		long("h"): long("x"), "goqueue-dlq-reason": "rejected", "goqueue-dlq-group": group, "goqueue-dlq-last-error": long("e"),
	}}
	for _, topic := range []string{"wide", api.DLQName("wide")} {
		if _, err := cl.CreateTopic(context.Background(), api.CreateTopicRequest{Name: topic, Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Publish(context.Background(), topic, msg); err != nil {
			t.Fatal(err)
		}
	}
	var jr api.JoinResponse
	if code := s.DoJSON("POST", "/groups/"+group+"/join", api.JoinRequest{Topics: []string{"wide"}}, &jr); code != 200 {
		t.Fatalf("join: %d", code)
	}
	for _, pg := range []struct{ hash, ready string }{
		{"#/topic/wide", "#browser-out .message dl.headers"},
		{"#/dlq/wide", "#dlqlist .message dl.headers"},
		{"#/reset", "#rgroup option[value^=ggg]"},
	} {
		b.run(chromedp.Navigate(s.URL + "/ui/?poll=300" + pg.hash))
		b.waitJS(pg.hash, `document.querySelector('`+pg.ready+`')`, 10*time.Second)
		if w := eval[float64](b, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
			t.Errorf("%s: the page is %.0f px wider than the window", pg.hash, w)
		}
	}
	b.noErrors()
}

// A fragment that names no page says so, with no "updated …" left from
// the page before, which read as if the page shown had been refreshed.
func TestConsoleNotFoundPage(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	s := brokertest.Start(t)
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=200#/"))
	b.waitJS("the overview refreshed", `document.getElementById('status').innerText.startsWith('updated')`, 10*time.Second)
	b.js(`location.hash = '#/no/such/page'`)
	b.waitJS("the page", `document.querySelector('h1')?.textContent === 'Not found'`, 10*time.Second)
	if got := b.text("#status"); got != "" {
		t.Errorf("the status says %q", got)
	}
	b.noErrors()
}

// However short the URL's ?poll=, the page waits at least 100 ms between
// refreshes. A link with ?poll=1 made it refresh back to back.
func TestConsolePollHasAFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	s := brokertest.Start(t)
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=1#/"))
	b.waitJS("a refresh", `document.getElementById('status').innerText.startsWith('updated')`, 10*time.Second)
	b.js(`window.at = []; new MutationObserver(() => window.at.push(performance.now())).observe(document.getElementById('status'), {childList: true, characterData: true, subtree: true})`)
	b.waitJS("six refreshes", `window.at.length >= 6`, 10*time.Second)
	if ms := eval[float64](b, `window.at[5] - window.at[0]`); ms < 5*100 {
		t.Errorf("five refreshes took %.0f ms; want at least 500", ms)
	}
}

// A failure of the refresh that the group page's window picker starts is
// shown like a poll's. It was an uncaught rejection in the page, shown
// nowhere.
func TestConsoleGroupWindowShowsErrors(t *testing.T) {
	b, s, _ := newConsole(t, "orders", 1)
	var jr api.JoinResponse
	if code := s.DoJSON("POST", "/groups/billing/join", api.JoinRequest{Topics: []string{"orders"}}, &jr); code != 200 {
		t.Fatalf("join: %d", code)
	}
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=60000#/group/billing")) // one refresh, then the picker's
	b.waitJS("the group", `document.querySelector('#members table')`, 10*time.Second)
	b.js(`const orig = window.fetch; window.fetch = (url, init) => url.includes('lag-history') ? Promise.reject(new TypeError('refused by the test')) : orig(url, init);
		const s = document.getElementById('window'); s.value = '60000'; s.dispatchEvent(new Event('change'))`)
	b.waitJS("the error", `document.getElementById('error').innerText.includes('refused by the test')`, 10*time.Second)
	b.noErrors()
}
