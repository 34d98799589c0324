package console_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/abd-ulbasit/goqueue/api"
)

// The overview reads every topic from GET /topics alone. It asked for each
// topic again (GET /topics/{t}): hundreds of requests every refresh on a
// broker of hundreds of topics, and a topic deleted between the list and
// its own request (a purged DLQ) failed the page with TOPIC_NOT_FOUND.
func TestConsoleOverviewReadsTopicsInOneRequest(t *testing.T) {
	b, s, cl := newConsole(t, "", 0)
	for i := range 20 {
		if _, err := cl.CreateTopic(context.Background(), api.CreateTopicRequest{Name: fmt.Sprintf("t%02d", i), Partitions: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.CreateTopic(context.Background(), api.CreateTopicRequest{Name: "zz-doomed", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	// Start on a page that reads nothing, then have the first answer of
	// GET /topics wait for the deletion of zz-doomed, which it still lists.
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=200#/nowhere"))
	b.waitJS("the page", `document.querySelector('h1')?.textContent === 'Not found'`, 10*time.Second)
	b.js(`window.perTopic = []; window.shown = []; let first = true;
		const orig = window.fetch;
		window.fetch = async (url, init) => {
			if (/^\/topics\/[^/]+$/.test(url)) window.perTopic.push(url);
			const res = await orig(url, init);
			if (url === '/topics' && first) { first = false; await orig('/topics/zz-doomed', { method: 'DELETE' }); }
			return res;
		};
		const err = document.getElementById('error');
		new MutationObserver(() => { if (!err.hidden) window.shown.push(err.innerText); }).observe(err, { attributes: true, childList: true, subtree: true });
		location.hash = '#/'`)
	b.waitJS("the topics", `document.querySelectorAll('#topics tbody tr').length >= 20`, 10*time.Second)
	b.js(`window.refreshes = 0; new MutationObserver(() => window.refreshes++).observe(document.getElementById('status'), {childList: true, characterData: true, subtree: true})`)
	b.waitJS("two more refreshes", `window.refreshes >= 2`, 10*time.Second)
	if shown := eval[[]string](b, `window.shown`); len(shown) > 0 {
		t.Errorf("the overview showed errors: %q", shown)
	}
	if got := eval[[]string](b, `window.perTopic`); len(got) > 0 {
		t.Errorf("the overview asked for topics one by one: %d requests, first %s", len(got), got[0])
	}
	if n := eval[float64](b, `document.querySelectorAll('#topics tbody tr').length`); n != 20 {
		t.Errorf("the overview lists %v topics; want 20 (zz-doomed deleted)", n)
	}
	b.noErrors()
}
