package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// browser is one headless Chromium for a test, with what its pages logged
// as errors.
type browser struct {
	t    *testing.T
	ctx  context.Context
	dir  string // screenshots
	mu   sync.Mutex
	errs []string // console errors and uncaught exceptions, in order
}

// newConsole starts a browser, a broker and a client of it, with topic
// (of the given partitions) created unless it is ""; it skips the test in
// -short mode.
func newConsole(t *testing.T, topic string, partitions int32) (*browser, *brokertest.Server, *client.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	s := brokertest.Start(t)
	cl, err := client.New(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if topic == "" {
		return b, s, cl
	}
	if _, err := cl.CreateTopic(context.Background(), api.CreateTopicRequest{Name: topic, Partitions: partitions}); err != nil {
		t.Fatal(err)
	}
	return b, s, cl
}

// newBrowser starts Debian's chromium with a fresh profile. Without it the
// test is skipped, except under CI=true, where it fails.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed; the console's browser tests need it: apt-get install chromium")
		}
		t.Skip("chromium is not installed; to run the console's browser tests: apt-get install chromium")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(cancelAlloc)
	dir := os.Getenv("GOQUEUE_UI_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, ctx: ctx, dir: dir}
	if err := chromedp.Do(ctx); err != nil { // start the browser and its tab
		t.Fatalf("start chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return // the context ended
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.errs = append(b.errs, m.String()+" "+m.URL)
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancelCtx(); <-done })
	return b
}

// run runs actions, failing the test on error.
func (b *browser) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v (console errors so far: %v)", err, b.errors())
	}
}

func (b *browser) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// noErrors fails the test if a page logged an error (except those allowed
// by a substring).
func (b *browser) noErrors(allowed ...string) {
	b.t.Helper()
next:
	for _, e := range b.errors() {
		for _, a := range allowed {
			if strings.Contains(e, a) {
				continue next
			}
		}
		b.t.Errorf("page error: %s", e)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitJS waits until the JavaScript expression is true. The console
// updates itself by polling, so this is a condition, not a sleep.
func (b *browser) waitJS(what, js string, timeout time.Duration) {
	b.t.Helper()
	var err error
	if !testkit.Within(timeout, func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		var ok bool
		ok, err = chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+js+")"))
		return err == nil && ok
	}) {
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		b.t.Fatalf("timed out waiting for %s (err %v); page text:\n%s\nconsole errors: %v", what, err, text, b.errors())
	}
}

// js runs JavaScript statements in the page.
func (b *browser) js(code string) {
	b.t.Helper()
	eval[bool](b, "(() => { "+code+"; return true; })()")
}

// text returns the text of the first element matching the CSS selector.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ''`, sel))
}

// shot saves a full-page PNG named name.
func (b *browser) shot(name string) {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", p)
}
