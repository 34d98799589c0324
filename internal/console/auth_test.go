package console_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/console"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

const key = "console-test-key"

func keyedBroker(t *testing.T) *brokertest.Server {
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.APIKeys = []string{key} }))
	cl, err := client.NewWithConfig(&client.Config{Brokers: []string{s.URL}, APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateTopic(context.Background(), api.CreateTopicRequest{Name: "private-orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	return s
}

// With API keys set, the console's files are served without a key (a page
// load cannot carry one) and hold no data; everything the console shows
// comes from the API, which refuses without the key.
func TestConsoleFilesArePublicAndHoldNoData(t *testing.T) {
	s := keyedBroker(t)
	files := console.New().Files()
	if len(files) < 5 {
		t.Fatalf("embedded files: %v", files)
	}
	get := func(path string) (int, string) {
		resp, err := s.Client().Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for name := range files {
		code, body := get("/ui/" + name)
		if code != http.StatusOK || strings.Contains(body, "private-orders") {
			t.Errorf("/ui/%s without a key: %d, holds data: %v", name, code, strings.Contains(body, "private-orders"))
		}
	}
	for _, path := range []string{"/topics", "/groups", "/groups/g/lag-history", "/groups/g/rebalances"} {
		if code, _ := get(path); code != http.StatusUnauthorized {
			t.Errorf("GET %s without a key: %d, want 401", path, code)
		}
	}
}

// The console asks for the key, refuses a wrong one with the broker's
// answer, keeps the right one for the tab and shows the data.
func TestConsoleAsksForTheAPIKey(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	s := keyedBroker(t)
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=300#/"))
	b.waitJS("the key prompt", `document.getElementById('keydialog').open`, 10*time.Second)
	b.shot("key-prompt")
	b.js(`document.getElementById('keyinput').value = 'wrong'`)
	b.run(chromedp.Click(chromedp.CSS(`#keyform button`)))
	b.waitJS("the refusal", `document.getElementById('keydialog').open && document.getElementById('keyerror').innerText.includes('refused')`, 10*time.Second)
	b.js(`document.getElementById('keyinput').value = '` + key + `'`)
	b.run(chromedp.Click(chromedp.CSS(`#keyform button`)))
	b.waitJS("the topic behind the key", `document.querySelector('#topics a[href="#/topic/private-orders"]')`, 10*time.Second)
	if got := eval[string](b, `sessionStorage.getItem('goqueue-api-key')`); got != key {
		t.Errorf("session storage holds %q", got)
	}
	// A new page load in the same tab needs no prompt.
	b.run(chromedp.Reload())
	b.waitJS("the topic after a reload", `document.querySelector('#topics a[href="#/topic/private-orders"]') && !document.getElementById('keydialog').open`, 10*time.Second)
	b.noErrors("401") // the browser logs each refused request
}

// The console shows the API's error code and message.
func TestConsoleShowsAPIErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	s := brokertest.Start(t)
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=300#/group/nobody"))
	b.waitJS("the error", `document.getElementById('error').innerText.includes('GROUP_NOT_FOUND')`, 10*time.Second)
	b.shot("error")
	b.noErrors("404")
}

// A key that a browser cannot send in a header (here with a zero-width
// space, as pasted from a chat) is refused in the prompt, which stays
// open; one kept in the tab from before is asked for again. Every fetch
// threw before it was sent: the console said "cannot reach the broker"
// on every refresh, even after a reload, and never asked again.
func TestConsoleRefusesAKeyABrowserCannotSend(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	s := keyedBroker(t)
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=300#/"))
	b.waitJS("the key prompt", `document.getElementById('keydialog').open`, 10*time.Second)
	b.js(`document.getElementById('keyinput').value = '` + key + `\u200b'`)
	b.run(chromedp.Click(chromedp.CSS(`#keyform button`)))
	b.waitJS("the refusal", `document.getElementById('keydialog').open && document.getElementById('keyerror').innerText.includes('U+200B')`, 10*time.Second)
	if got := eval[string](b, `sessionStorage.getItem('goqueue-api-key') || ''`); got != "" {
		t.Errorf("the refused key was kept: %q", got)
	}
	b.js(`document.getElementById('keyinput').value = '` + key + `'`)
	b.run(chromedp.Click(chromedp.CSS(`#keyform button`)))
	b.waitJS("the topic behind the key", `document.querySelector('#topics a[href="#/topic/private-orders"]')`, 10*time.Second)

	// A tab that kept such a key: the prompt, not a network error.
	b.js(`sessionStorage.setItem('goqueue-api-key', '` + key + `\u2013')`)
	b.run(chromedp.Reload())
	b.waitJS("the prompt for a kept key", `document.getElementById('keydialog').open && document.getElementById('keyerror').innerText.includes('U+2013')`, 10*time.Second)
	if text := b.text("#error"); text != "" {
		t.Errorf("error shown: %q", text)
	}
	b.noErrors("401")
}

// A key that works but may not do what the reader wants (a scoped key's
// 403) can be changed from the header, or the change cancelled. The
// console asked for a key only on a 401, so the tab kept a scoped key
// until it was closed.
func TestConsoleChangesTheAPIKey(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	const viewer = "viewer-key-0123456789"
	b := newBrowser(t)
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.APIKeys = []string{key, viewer + ":"} }))
	cl, err := client.NewWithConfig(&client.Config{Brokers: []string{s.URL}, APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateTopic(context.Background(), api.CreateTopicRequest{Name: "private-orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	b.run(chromedp.Navigate(s.URL + "/ui/style.css"))
	b.js(`sessionStorage.setItem('goqueue-api-key', '` + viewer + `')`)
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=300#/topic/private-orders"))
	b.waitJS("the scoped key's refusal", `document.getElementById('error').innerText.includes('FORBIDDEN')`, 10*time.Second)

	b.run(chromedp.Click(chromedp.CSS(`#changekey`)))
	b.waitJS("the key prompt", `document.getElementById('keydialog').open && !document.getElementById('keycancel').hidden`, 10*time.Second)
	b.run(chromedp.Click(chromedp.CSS(`#keycancel`)))
	b.waitJS("the prompt closed", `!document.getElementById('keydialog').open`, 10*time.Second)
	if got := eval[string](b, `sessionStorage.getItem('goqueue-api-key')`); got != viewer {
		t.Errorf("after cancel the tab holds %q", got)
	}

	b.run(chromedp.Click(chromedp.CSS(`#changekey`)))
	b.waitJS("the key prompt again", `document.getElementById('keydialog').open`, 10*time.Second)
	b.js(`document.getElementById('keyinput').value = '` + key + `'`)
	b.run(chromedp.Click(chromedp.CSS(`#keyform button[type=submit]`)))
	b.waitJS("the topic with the new key", `document.querySelector('#tparts table') && document.getElementById('error').hidden`, 10*time.Second)
	if got := eval[string](b, `sessionStorage.getItem('goqueue-api-key')`); got != key {
		t.Errorf("after the change the tab holds %q", got)
	}
	b.noErrors("403", "favicon.ico") // the style sheet opened alone asks for /favicon.ico, which needs a key
}
