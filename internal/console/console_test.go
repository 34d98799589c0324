package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/history"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

func publish(t *testing.T, cl *client.Client, n int, value string) {
	t.Helper()
	msgs := make([]api.PublishMessage, n)
	for i := range msgs {
		v, _ := json.Marshal(fmt.Sprintf("%s-%d", value, i))
		if n == 1 {
			v, _ = json.Marshal(value)
		}
		msgs[i] = api.PublishMessage{Value: v}
	}
	if _, err := cl.Publish(context.Background(), "orders", msgs...); err != nil {
		t.Fatal(err)
	}
}

func describe(t *testing.T, s *brokertest.Server) api.GroupDescription {
	t.Helper()
	var g api.GroupDescription
	if code := s.DoJSON("GET", "/groups/billing", nil, &g); code != 200 {
		t.Fatalf("GET /groups/billing: %d", code)
	}
	return g
}

// chartYs returns the y coordinates of the first series of the chart in
// the element sel (smaller y: more lag).
const chartYs = `(() => { const p = document.querySelector('#lagchart svg path.line');
  return p ? [...p.getAttribute('d').matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map(m => +m[2]) : []; })()`

// TestConsole drives every page of the console in Chromium against a real
// broker with a consuming group, and saves screenshots of each.
func TestConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	s := brokertest.Start(t, brokertest.WithConfig(func(c *broker.Config) {
		c.History = history.Config{Interval: 200 * time.Millisecond, Retention: 10 * time.Minute, FineRetention: 10 * time.Minute, CoarseStep: time.Second}
	}))
	cl, err := client.New(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateTopic(context.Background(), api.CreateTopicRequest{Name: "orders", Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	publish(t, cl, 40, `order`)
	var pz poison
	m1 := startMember(t, s.URL, "first", &pz)
	testkit.Eventually(t, 20*time.Second, func() bool { return m1.consumed.Load() >= 40 }, "the first member to consume")
	ui := s.URL + "/ui/?poll=300"

	// Overview.
	b.run(chromedp.Navigate(ui + "#/"))
	b.waitJS("the group in the overview", `document.querySelector('#groups a[href="#/group/billing"]')`, 10*time.Second)
	b.waitJS("the topic in the overview", `document.querySelector('#topics a[href="#/topic/orders"]')`, 10*time.Second)
	first := eval[float64](b, `performance.getEntriesByName('goqueue-first-render')[0].startTime`)
	weight := eval[float64](b, `performance.getEntriesByType('resource').filter(r => r.name.includes('/ui/')).reduce((a, r) => a + r.encodedBodySize, 0) + performance.getEntriesByType('navigation')[0].encodedBodySize`)
	t.Logf("overview: first render with data %.0f ms after navigation start; console files %.1f KB", first, weight/1024)
	b.shot("overview")

	// Keyboard: the group link is reachable, keeps the focus while the page
	// refreshes itself, and opens the group page.
	b.run(chromedp.Focus(chromedp.CSS(`#groups a[href="#/group/billing"]`)))
	b.js(`window.refreshes = 0; new MutationObserver(() => window.refreshes++).observe(document.getElementById('status'), {childList: true, characterData: true, subtree: true})`)
	b.waitJS("two refreshes", `window.refreshes >= 2`, 10*time.Second)
	if got := eval[string](b, `document.activeElement.getAttribute('href') || document.activeElement.tagName`); got != "#/group/billing" {
		t.Fatalf("after a refresh the focus is on %q, not the group link", got)
	}
	b.run(chromedp.KeyEvent("\r"))
	b.waitJS("the group page", `location.hash === '#/group/billing' && document.querySelector('#members table')`, 10*time.Second)

	// The lag chart rises while a producer runs and falls as the group
	// catches up.
	b.js(`(() => { const s = document.getElementById('window'); s.value = '60000'; s.dispatchEvent(new Event('change')); })()`)
	m1.consuming.Store(false)
	for range 15 {
		publish(t, cl, 100, "burst")
		time.Sleep(100 * time.Millisecond) // a producer running for a while, so the samples see the lag grow
	}
	b.waitJS("the lag chart to rise", `(ys => ys.length > 3 && ys[ys.length - 1] < Math.max(...ys) - 20)(`+chartYs+`)`, 10*time.Second)
	b.shot("group-lag-rising")
	m1.consuming.Store(true)
	testkit.Eventually(t, 30*time.Second, func() bool { return describe(t, s).Lag == 0 }, "the group to catch up")
	b.waitJS("the lag chart to fall back to zero", `(ys => { const base = Math.max(...ys), peak = Math.min(...ys);
		return peak < base - 20 && ys.indexOf(peak) > 0 && ys[ys.length - 1] === base; })(`+chartYs+`)`, 10*time.Second)
	b.shot("group-lag-fell")
	ys := eval[[]float64](b, chartYs)
	t.Logf("group lag chart y coordinates (low = more lag): %v", ys)

	// A member joining shows on the rebalance timeline with what moved.
	m2 := startMember(t, s.URL, "second", &pz)
	var ids []string
	testkit.Eventually(t, 20*time.Second, func() bool {
		g := describe(t, s)
		ids = ids[:0]
		for _, m := range g.Members {
			if len(m.AssignedPartitions["orders"]) == 0 {
				return false
			}
			ids = append(ids, m.MemberID)
		}
		return len(ids) == 2 && g.State == api.GroupStateStable
	}, "two members owning partitions")
	rb := describeRebalances(t, s)
	var move api.Move
	for _, r := range rb.Rebalances {
		if r.Reason == "member_joined" && len(r.Moved) > 0 && r.Moved[0].From != "" {
			move = r.Moved[0]
			break
		}
	}
	if move.To == "" {
		t.Fatalf("no rebalance moved a partition between members: %+v", rb.Rebalances)
	}
	want := fmt.Sprintf("%s/%d: %s → %s", move.Topic, move.Partition, move.From, move.To)
	b.waitJS("the timeline to show "+want, fmt.Sprintf(`document.querySelector('#timeline').innerText.includes(%q) && document.querySelector('#timeline').innerText.includes('member joined')`, want), 10*time.Second)
	b.shot("group-rebalance")

	// Topic: partitions, groups, the message browser in each view.
	b.run(chromedp.Navigate(ui + "#/topic/orders"))
	b.waitJS("messages in the browser", `document.querySelector('#browser-out .message')`, 10*time.Second)
	b.waitJS("the consuming group", `document.querySelector('#tgroups a[href="#/group/billing"]')`, 10*time.Second)
	b.js(`(() => { const s = document.querySelector('.mode'); s.value = 'hex'; s.dispatchEvent(new Event('change')); })()`)
	if got := b.text("#browser-out pre.value"); !strings.Contains(got, "6f 72 64 65 72") { // "order"
		t.Errorf("hex view: %q", got)
	}
	b.shot("topic")
	// From a time: partition 1 from a minute ago starts at its first message.
	b.js(fmt.Sprintf(`(() => { document.getElementById('bpart').value = '1'; document.getElementById('bhow').value = 'timestamp';
		document.getElementById('bat').value = '%d'; document.getElementById('browse').click(); })()`, time.Now().Add(-time.Minute).UnixMilli()))
	b.waitJS("messages from a time", `(document.querySelector('#browser-out .message .meta strong') || {}).innerText === '1/0'`, 10*time.Second)

	// DLQ: a dead letter is replayed to the group that failed it, which
	// consumes it; another group of the topic does not get it again. The
	// poison message claims to be an hour old, so the time filter shows that
	// it filters by when the message died, not by its own timestamp.
	audit := &poison{}
	audit.dead.Store(1) // the audit group acknowledges every poison message and counts it in replayed
	startGroupMember(t, s.URL, "audit", "auditor", audit)
	if _, err := cl.Publish(context.Background(), "orders", api.PublishMessage{Value: json.RawMessage(`"poison"`), Timestamp: time.Now().Add(-time.Hour).UnixMilli()}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		return pz.dead.Load() > 0 && slices.ContainsFunc(describe(t, s).Partitions, func(p api.PartitionStatus) bool { return p.DeadLettered > 0 })
	}, "the poison message to be dead-lettered")
	testkit.Eventually(t, 20*time.Second, func() bool { return audit.replayed.Load() == 1 }, "the audit group to consume the poison message")
	b.run(chromedp.Navigate(ui + "#/dlq/orders"))
	b.waitJS("the dead letter", `document.querySelector('#dlqlist .message') && document.querySelector('#dlqlist').innerText.includes('cannot parse the order')`, 10*time.Second)
	b.js(`(() => { const s = document.getElementById('fgroup'); s.value = 'billing'; s.dispatchEvent(new Event('change')); })()`)
	b.waitJS("the filtered list", `document.querySelectorAll('#dlqlist .message').length === 1`, 5*time.Second)
	const setTime = `((id, ago) => { const e = document.getElementById(id);
		e.value = ago === null ? '' : new Date(Date.now() - ago - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16);
		e.dispatchEvent(new Event('change')); })`
	b.js(setTime + `('ffrom', 10 * 60000)`) // died in the last 10 minutes, though published an hour ago
	b.waitJS("the dead letter by when it died", `document.querySelectorAll('#dlqlist .message').length === 1`, 5*time.Second)
	b.js(setTime + `('ffrom', 2 * 3600000); ` + setTime + `('fto', 30 * 60000)`) // died between 2 h and 30 min ago: none
	b.waitJS("no dead letter died then", `document.querySelector('#dlqlist').innerText.includes('No dead letter matches')`, 5*time.Second)
	b.js(setTime + `('ffrom', null); ` + setTime + `('fto', null)`)
	b.waitJS("the list unfiltered by time", `document.querySelectorAll('#dlqlist .message').length === 1`, 5*time.Second)
	b.run(chromedp.Click(chromedp.CSS(`#dlqlist button.view`)))
	b.waitJS("the whole message", `document.querySelector('#dlqview').innerText.includes('goqueue-dlq-original-offset')`, 5*time.Second)
	b.shot("dlq")
	at := b.text(`#dlqlist .message .meta strong`) // its DLQ partition/offset
	b.run(chromedp.Click(chromedp.CSS(`#dlqlist button.replay`)))
	b.waitJS("the replay's confirmation", fmt.Sprintf(`document.querySelector('#dlqsummary').innerText.includes(%q)`, "Replayed "+at+" to billing."), 5*time.Second)
	testkit.Eventually(t, 20*time.Second, func() bool {
		return pz.replayed.Load() > 0
	}, "the group to consume the replayed message")
	otherGroupSkips := func(what string) {
		t.Helper()
		testkit.Eventually(t, 20*time.Second, func() bool {
			var g api.GroupDescription
			return s.DoJSON("GET", "/groups/audit", nil, &g) == 200 && g.Lag == 0
		}, "the audit group to pass %s", what)
		if n := audit.replayed.Load(); n != 1 {
			t.Errorf("after %s the audit group got the poison message %d times; want once (replays are for billing only)", what, n)
		}
	}
	otherGroupSkips("the replay of one")
	// Replay all: each dead letter once, unless asked again.
	b.run(chromedp.Click(chromedp.CSS(`#replayall`)))
	b.waitJS("the question", `document.querySelector('.confirm .question')`, 5*time.Second)
	b.shot("dlq-confirm")
	b.run(chromedp.Click(chromedp.CSS(`.confirm .yes`)))
	b.waitJS("the replay of all, which skips the one replayed", `(t => t.includes('Replayed 0 dead letters') && t.includes('1 skipped'))(document.querySelector('#dlqsummary').innerText)`, 5*time.Second)
	b.run(chromedp.Click(chromedp.CSS(`#again`)), chromedp.Click(chromedp.CSS(`#replayall`)))
	b.run(chromedp.Click(chromedp.CSS(`.confirm .yes`)))
	b.waitJS("the replay of all again", `document.querySelector('#dlqsummary').innerText.includes('Replayed 1 dead letters to billing')`, 5*time.Second)
	testkit.Eventually(t, 20*time.Second, func() bool { return pz.replayed.Load() > 1 }, "the group to consume the replay of all")
	otherGroupSkips("the replay of all")
	b.shot("dlq-replayed")
	b.run(chromedp.Click(chromedp.CSS(`#purge`)))
	b.run(chromedp.Click(chromedp.CSS(`.confirm .yes`)))
	b.waitJS("the purge", `document.querySelector('#dlqlist').innerText.includes('The DLQ is empty')`, 5*time.Second)
	if code, _ := s.Do("GET", "/topics/orders.dlq", nil); code != 404 {
		t.Errorf("after the purge GET /topics/orders.dlq: %d, want 404", code)
	}
	if code, _ := s.Do("GET", "/topics/orders", nil); code != 200 {
		t.Errorf("after the purge GET /topics/orders: %d, want 200", code)
	}

	// Reset offsets, previewed then applied, on the group once empty.
	m1.close()
	m2.close()
	testkit.Eventually(t, 20*time.Second, func() bool { return describe(t, s).State == api.GroupStateEmpty }, "the group to be empty")
	b.run(chromedp.Navigate(ui + "#/reset/billing"))
	b.waitJS("the empty group", `document.querySelector('#rstate').innerText.includes('is empty')`, 10*time.Second)
	// A duration ago, previewed only: the broker's dry run, nothing changed.
	before := describe(t, s)
	b.js(`(() => { const s = document.getElementById('rto'); s.value = 'duration'; s.dispatchEvent(new Event('change'));
		document.getElementById('rarg').value = '2h'; })()`)
	b.run(chromedp.Click(chromedp.CSS(`#rpreviewbtn`)))
	b.waitJS("the preview of a duration", `document.querySelectorAll('#rpreview tbody tr').length === 4`, 10*time.Second)
	if got := eval[[]string](b, `[...document.querySelectorAll('#rpreview tbody tr')].map(tr => tr.children[2].innerText)`); !slices.Equal(got, []string{"0", "0", "0", "0"}) {
		t.Errorf("2h ago previews %v; every message is younger, so want offset 0 everywhere", got)
	}
	if after := describe(t, s); !slices.EqualFunc(before.Partitions, after.Partitions, func(a, b api.PartitionStatus) bool { return a.CommittedOffset == b.CommittedOffset }) {
		t.Errorf("a preview changed the committed offsets: %+v, then %+v", before.Partitions, after.Partitions)
	}
	b.js(`(() => { const s = document.getElementById('rto'); s.value = 'shift'; s.dispatchEvent(new Event('change'));
		document.getElementById('rarg').value = '-7'; })()`)
	b.run(chromedp.Click(chromedp.CSS(`#rpreviewbtn`)))
	b.waitJS("the preview", `document.querySelector('#rpreview table')`, 10*time.Second)
	preview := eval[[][]string](b, `[...document.querySelectorAll('#rpreview tbody tr')].map(tr => [...tr.children].map(td => td.innerText))`)
	b.shot("reset-preview")
	b.run(chromedp.Click(chromedp.CSS(`#rapply`)))
	b.waitJS("the reset's confirmation", `document.querySelector('#rresult').innerText.includes('Reset 4 partitions')`, 10*time.Second)
	var offs api.OffsetsResponse
	s.DoJSON("GET", "/groups/billing/offsets", nil, &offs)
	if len(preview) != 4 {
		t.Fatalf("preview rows %v; want 4", preview)
	}
	for _, row := range preview {
		topic, ps, _ := strings.Cut(row[0], "/")
		p, _ := strconv.Atoi(ps)
		next, _ := strconv.ParseInt(row[2], 10, 64)
		if got := offs.Offsets[topic][int32(p)]; got != next {
			t.Errorf("%s: committed %d after the reset; the preview said %d", row[0], got, next)
		}
		for _, bp := range before.Partitions {
			if bp.Topic == topic && bp.Partition == int32(p) && next != max(bp.CommittedOffset-7, 0) {
				t.Errorf("%s: preview %d; committed was %d, so shift -7 gives %d", row[0], next, bp.CommittedOffset, max(bp.CommittedOffset-7, 0))
			}
		}
	}

	// Phone width: the pages fit, tables scroll inside their box.
	b.run(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, pg := range []struct{ name, hash, ready string }{
		{"phone-overview", "#/", `#groups table`},
		{"phone-group", "#/group/billing", `#partitions table`},
	} {
		b.run(chromedp.Navigate(ui + pg.hash))
		b.waitJS(pg.name, `document.querySelector('`+pg.ready+`')`, 10*time.Second)
		if w := eval[float64](b, `document.documentElement.scrollWidth`); w > 400 {
			t.Errorf("%s: the page is %.0f px wide at a 390 px viewport", pg.name, w)
		}
		b.shot(pg.name)
	}
	b.noErrors()
}

func describeRebalances(t *testing.T, s *brokertest.Server) api.RebalanceHistory {
	t.Helper()
	var h api.RebalanceHistory
	if code := s.DoJSON("GET", "/groups/billing/rebalances", nil, &h); code != 200 {
		t.Fatalf("GET rebalances: %d", code)
	}
	return h
}
