package faulttest

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
)

// TestOpenFilesFigure measures the broker's open descriptors for 1,000
// topics × 6 partitions with 10 sealed segments each (the figure).
// It takes minutes and 250 MB of disk, so it runs only with
// GOQUEUE_FD_FIGURE=1; GOQUEUE_FAULTTEST_BIN compares another build.
func TestOpenFilesFigure(t *testing.T) {
	if os.Getenv("GOQUEUE_FD_FIGURE") != "1" {
		t.Skip("set GOQUEUE_FD_FIGURE=1 to measure open files for 1,000 topics x 6 partitions x 10 sealed segments")
	}
	const topics, partitions, rounds = 1000, 6, 11 // 11 batches per partition: 10 sealed segments + the active one
	dir := t.TempDir()
	p := start(t, dir, "")
	t.Logf("empty broker: %d descriptors", p.fds(t))
	val := strings.Repeat("x", 3500) // one batch per partition per round, just under a 4 KiB segment
	var msgs []string
	for part := range partitions {
		msgs = append(msgs, fmt.Sprintf(`{"value":%q,"partition":%d}`, val, part))
	}
	body := `{"messages":[` + strings.Join(msgs, ",") + `]}`
	each := func(fn func(name string)) {
		var wg sync.WaitGroup
		work := make(chan string)
		for range 8 {
			wg.Go(func() {
				for name := range work {
					fn(name)
				}
			})
		}
		for i := range topics {
			work <- fmt.Sprintf("t%04d", i)
		}
		close(work)
		wg.Wait()
	}
	each(func(name string) {
		st, raw := p.do("POST", "/topics", fmtTopic(name, partitions, `,"segment_bytes":4096`))
		if st != http.StatusCreated {
			t.Errorf("create %s: %d %s", name, st, raw)
		}
	})
	t.Logf("%d topics x %d partitions created: %d descriptors", topics, partitions, p.fds(t))
	for range rounds {
		each(func(name string) {
			if st, raw := p.do("POST", "/topics/"+name+"/messages", body); st != http.StatusOK {
				t.Errorf("publish to %s: %d %s", name, st, raw)
			}
		})
	}
	t.Logf("after %d rounds of publishes (%d sealed segments per partition): %d descriptors", rounds, rounds-1, p.fds(t))
	each(func(name string) {
		for part := range partitions {
			p.do("GET", fmt.Sprintf("/topics/%s/partitions/%d/messages?offset=0&max=100", name, part), nil)
		}
	})
	t.Logf("after reading every partition from offset 0: %d descriptors", p.fds(t))
	p.Stop()
	p = start(t, dir, "")
	t.Logf("after a restart: %d descriptors", p.fds(t))
}
