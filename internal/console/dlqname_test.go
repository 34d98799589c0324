package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/console"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
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

// TestDLQPageFindsHashedDLQ dead-letters a message of a topic whose DLQ
// name is hashed (more than 245 characters) and checks that the DLQ page
// lists the topic and shows the dead letter, and the overview links the
// DLQ to it; the ".dlq" suffix alone cannot find it.
func TestDLQPageFindsHashedDLQ(t *testing.T) {
	b, s, cl := newConsole(t, "", 0)
	ctx := context.Background()
	topic := strings.Repeat("long-topic.", 23)[:249] // the longest topic name
	if _, err := cl.CreateTopic(ctx, api.CreateTopicRequest{Name: topic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Publish(ctx, topic, api.PublishMessage{Value: json.RawMessage(`"unreadable"`)}); err != nil {
		t.Fatal(err)
	}
	c, err := client.NewConsumer(&client.ConsumerConfig{Brokers: []string{s.URL}, GroupID: "readers", Topics: []string{topic},
		HeartbeatInterval: 200 * time.Millisecond, PollWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testkit.Eventually(t, 20*time.Second, func() bool {
		msgs, err := c.Poll(ctx, 10)
		for _, m := range msgs {
			if err := c.NackWith(m, client.NackOptions{Requeue: false, Reason: "too long to read"}); err != nil {
				t.Fatal(err)
			}
		}
		return err == nil && len(msgs) > 0
	}, "the message to be dead-lettered")
	testkit.Eventually(t, 20*time.Second, func() bool {
		code, _ := s.Do("GET", "/topics/"+api.DLQName(topic), nil)
		return code == 200
	}, "the hashed DLQ to exist")

	b.run(chromedp.Navigate(s.URL + "/ui/?poll=300#/"))
	b.waitJS("the overview's link from the DLQ to its dead letters", fmt.Sprintf(`document.querySelector('#topics a[href="#/dlq/%s"]')`, topic), 10*time.Second)
	if got := b.text(".stats .stat .value"); got != "1" { // the first stat: topics, the DLQ not counted
		t.Errorf("the overview counts %s topics; want 1", got)
	}
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=300#/dlq"))
	b.waitJS("the long topic in the picker", fmt.Sprintf(`[...document.querySelectorAll('#dlqtopic option')].some(o => o.value === %q)`, topic), 10*time.Second)
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=300#/dlq/" + topic))
	b.waitJS("the dead letter", `(document.querySelector('#dlqlist') || {innerText: ''}).innerText.includes('too long to read')`, 10*time.Second)
	if got := b.text("#dlqsummary code"); got != api.DLQName(topic) {
		t.Errorf("the page names the DLQ %q; the broker %q", got, api.DLQName(topic))
	}
	b.noErrors()
}

// The DLQ page shows a partition's newest dead letters, however big. It
// read 200 from before the end in one request, which the broker caps at
// 1 MiB: with dead letters of 8 KiB it showed the oldest ~128 of those 200
// as "the newest" and never the last ones to die.
func TestDLQPageShowsTheNewestBigDeadLetters(t *testing.T) {
	b, s, cl := newConsole(t, "", 0)
	ctx := context.Background()
	for _, name := range []string{"fat", api.DLQName("fat")} {
		if _, err := cl.CreateTopic(ctx, api.CreateTopicRequest{Name: name, Partitions: 1}); err != nil {
			t.Fatal(err)
		}
	}
	const n = 300
	pad := strings.Repeat("x", 8<<10)
	msgs := make([]api.PublishMessage, n)
	for i := range msgs {
		v, _ := json.Marshal(fmt.Sprintf("dead-%03d %s", i, pad))
		msgs[i] = api.PublishMessage{Value: v, Headers: map[string]string{
			"goqueue-dlq-reason": "rejected", "goqueue-dlq-group": "readers", "goqueue-dlq-original-topic": "fat",
			"goqueue-dlq-died-at": fmt.Sprint(time.Now().UnixMilli() - n + int64(i)), // the last published died last
		}}
	}
	if _, err := cl.Publish(ctx, api.DLQName("fat"), msgs...); err != nil {
		t.Fatal(err)
	}
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=300#/dlq/fat"))
	b.waitJS("the dead letters", `document.querySelector('#dlqlist .message')`, 10*time.Second)
	shown := eval[[]string](b, `[...document.querySelectorAll('#dlqlist .message .meta > strong')].map(e => e.innerText)`)
	if len(shown) < 50 || shown[0] != fmt.Sprintf("0/%d", n-1) {
		t.Fatalf("the page shows %d dead letters from %v; want the newest, 0/%d, first", len(shown), shown[:min(3, len(shown))], n-1)
	}
	for i, at := range shown {
		if want := fmt.Sprintf("0/%d", n-1-i); at != want {
			t.Fatalf("dead letter %d shown is %s; want %s (the newest, without a gap)", i, at, want)
		}
	}
	if got := b.text("#dlqsummary"); !strings.Contains(got, fmt.Sprintf("the newest %d shown", len(shown))) {
		t.Errorf("summary %q", got)
	}
	b.noErrors()
}

// The DLQ page's "died … ago" ages while the page stays open. The page
// drew the dead letters only when the DLQ changed, so a dead letter
// that died 5 s ago was said to have "died 5 s ago" an hour later.
func TestDLQPageAges(t *testing.T) {
	b, s, cl := newConsole(t, "", 0)
	ctx := context.Background()
	for _, name := range []string{"aging", api.DLQName("aging")} {
		if _, err := cl.CreateTopic(ctx, api.CreateTopicRequest{Name: name, Partitions: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.Publish(ctx, api.DLQName("aging"), api.PublishMessage{Value: json.RawMessage(`"x"`), Headers: map[string]string{
		"goqueue-dlq-reason": "rejected", "goqueue-dlq-group": "readers", "goqueue-dlq-died-at": fmt.Sprint(time.Now().Add(-5 * time.Second).UnixMilli()),
	}}); err != nil {
		t.Fatal(err)
	}
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=200#/dlq/aging"))
	b.waitJS("the dead letter", `document.querySelector('#dlqlist .why time')?.innerText.endsWith('s ago')`, 10*time.Second)
	b.js(`const now = Date.now(); Date.now = () => now + 3600e3`) // the page's clock an hour on
	b.waitJS("it an hour older", `document.querySelector('#dlqlist .why time').innerText.startsWith('1 h') && document.getElementById('dlqsummary').innerText.includes('the last died 1 h')`, 10*time.Second)
	b.noErrors()
}

// A dead letter whose original message had headers the JSON object cannot
// say (bytes, a repeated key) comes in header_list: the DLQ page still
// reads its reason and group from it, and shows every header, the bytes
// in base64. It showed "?" for both, reading only the headers object.
func TestDLQPageReadsHeaderList(t *testing.T) {
	b, s, cl := newConsole(t, "", 0)
	ctx := context.Background()
	for _, name := range []string{"bin", api.DLQName("bin")} {
		if _, err := cl.CreateTopic(ctx, api.CreateTopicRequest{Name: name, Partitions: 1}); err != nil {
			t.Fatal(err)
		}
	}
	str := func(s string) *string { return &s }
	if _, err := cl.Publish(ctx, api.DLQName("bin"), api.PublishMessage{Value: json.RawMessage(`"x"`), HeaderList: []api.Header{
		{Key: str("trace"), ValueBase64: []byte{0xff}}, {Key: str("trace"), Value: str("t-2")},
		{Key: str("goqueue-dlq-reason"), Value: str("rejected")}, {Key: str("goqueue-dlq-group"), Value: str("readers")},
	}}); err != nil {
		t.Fatal(err)
	}
	b.run(chromedp.Navigate(s.URL + "/ui/?poll=200#/dlq/bin"))
	b.waitJS("the dead letter", `document.querySelector('#dlqlist .why')?.innerText.startsWith('rejected in group readers')`, 10*time.Second)
	if got := b.text("#dlqlist .headers"); !strings.Contains(got, "base64:/w==") || !strings.Contains(got, "t-2") {
		t.Errorf("headers shown: %q", got)
	}
	b.noErrors()
}
