package console_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/abd-ulbasit/goqueue/api"
)

// A group whose ID holds a '/' (as Kafka's may: "team/app") has its page:
// the console decoded the whole fragment before matching it, so
// #/group/team%2Fapp read as two segments and was "Not found".
func TestConsoleGroupIDWithSlash(t *testing.T) {
	b, s, _ := newConsole(t, "orders", 1)
	var jr api.JoinResponse
	if code := s.DoJSON("POST", "/groups/team%2Fapp/join", api.JoinRequest{Topics: []string{"orders"}}, &jr); code != 200 {
		t.Fatalf("join of team/app: %d", code)
	}
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=300#/"))
	b.waitJS("the group's link in the overview", `document.querySelector('#groups a[href="#/group/team%2Fapp"]')`, 10*time.Second)
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=300#/group/team%2Fapp"))
	b.waitJS("the group's page", `document.querySelector('h1')?.textContent === 'team/app' && document.querySelector('#members table')`, 10*time.Second)
}

// Group IDs may hold characters that print nothing or turn the text
// around (U+202E RIGHT-TO-LEFT OVERRIDE) and spaces at their ends: the
// console spells those out, so that "pay\u202Eppa" does not show as
// "payapp" reversed, nor " a" as "a".
func TestConsoleSpellsOutHiddenCharactersOfGroupIDs(t *testing.T) {
	b, s, _ := newConsole(t, "orders", 1)
	for _, id := range []string{"pay\u202eppa", " a"} {
		var jr api.JoinResponse
		if code := s.DoJSON("POST", "/groups/"+url.PathEscape(id)+"/join", api.JoinRequest{Topics: []string{"orders"}}, &jr); code != 200 {
			t.Fatalf("join of %q: %d", id, code)
		}
	}
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=300#/"))
	b.waitJS("the groups spelled out in the overview", `(() => {
		const names = [...document.querySelectorAll('#groups a bdi.ident')].map(e => e.textContent);
		return names.includes('pay\\u{202E}ppa') && names.includes('\\u{20}a');
	})()`, 10*time.Second)
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=300#/group/" + url.PathEscape("pay\u202eppa")))
	b.waitJS("the group's page, its name spelled out", `document.querySelector('h1')?.textContent === 'pay\\u{202E}ppa' && document.title.startsWith('pay\\u{202E}ppa')`, 10*time.Second)
}
