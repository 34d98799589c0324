package console_test

import (
	"context"
	"encoding/json"
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
