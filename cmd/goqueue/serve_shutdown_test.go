package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// SIGTERM under load: four publishers and a long-poll are running when the
// signal comes. The broker stops promptly (the long-poll does not hold it
// up), cleanly, and after a restart every acknowledged message is there.
func TestSIGTERMUnderLoadKeepsEveryAcknowledgedMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	// The shutdown timeout is below the long-poll's 30 s wait: a long-poll
	// holding the shutdown up would meet it, and the broker says so.
	dir := filepath.Join(t.TempDir(), "data")
	p := startBinary(t, dir, "--shutdown-timeout", "15s")
	for _, topic := range []string{"orders", "idle"} {
		if st := p.call(t, "POST", "/topics", `{"name":"`+topic+`","partitions":1}`, nil); st != http.StatusCreated {
			t.Fatalf("create %s: %d", topic, st)
		}
	}

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var msgs []string
				for j := range 10 {
					msgs = append(msgs, fmt.Sprintf(`{"value":"w%d-%d-%d"}`, w, i, j))
				}
				resp, err := client.Post(p.URL+"/topics/orders/messages", "application/json",
					strings.NewReader(`{"messages":[`+strings.Join(msgs, ",")+`]}`))
				if err != nil {
					return // the listener closed
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					continue // refused while shutting down: not acknowledged
				}
				mu.Lock()
				for j := range 10 {
					acked[fmt.Sprintf("w%d-%d-%d", w, i, j)] = true
				}
				mu.Unlock()
			}
		})
	}
	// A long-poll at the end of a topic nobody publishes to, waiting 30 s
	// (one of orders, busy, would answer at once).
	pollDone := make(chan int, 1)
	go func() {
		resp, err := client.Get(p.URL + "/topics/idle/partitions/0/messages?offset=0&wait_ms=30000")
		if err != nil {
			pollDone <- -1
			return
		}
		resp.Body.Close()
		pollDone <- resp.StatusCode
	}()

	// Let the load build up (2,000 acknowledgements, or 10 s), then signal.
	testkit.Within(10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 2000
	})
	start := time.Now()
	p.stop(t) // fails the test on a non-zero exit
	took := time.Since(start)
	close(stop)
	wg.Wait()
	// Not a wall-clock bound: a loaded machine may take seconds to drain
	// the publishers and close the broker.
	if strings.Contains(p.Log(), "requests still in progress at the shutdown deadline") {
		t.Errorf("shutdown took %v and met its deadline with a 30 s long-poll open:\n%s", took, p.Log())
	}
	if !strings.Contains(p.Log(), "stopped cleanly") {
		t.Fatalf("no clean stop:\n%s", p.Log())
	}
	select {
	case <-pollDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the long-poll never ended")
	}

	p = startBinary(t, dir, "--shutdown-timeout", "15s")
	defer p.stop(t)
	got := map[string]bool{}
	for _, m := range p.readAll(t) {
		var v string
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatalf("value %s: %v", m.Value, err)
		}
		got[v] = true
	}
	missing := 0
	for id := range acked {
		if !got[id] {
			missing++
		}
	}
	t.Logf("%d messages acknowledged before and during shutdown, %d stored", len(acked), len(got))
	if missing > 0 || len(acked) == 0 {
		t.Fatalf("%d of %d acknowledged messages lost", missing, len(acked))
	}
}

// A shutdown held up by a request in progress (a client trickling its
// body) waits for it; a second signal exits at once with a failure status.
func TestSecondSignalForcesExit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	p := startBinary(t, t.TempDir(), "--read-timeout", "1m", "--shutdown-timeout", "1m")
	conn, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /topics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	// The request is in its handler once the broker counts it in flight
	// beside the /metrics request that asks. (An answer on another
	// connection proved nothing: the two connections are read by goroutines
	// of their own, and a connection whose headers are not read yet is
	// closed by a shutdown at once.)
	testkit.Eventually(t, 10*time.Second, func() bool {
		var metrics string
		req, _ := http.NewRequest("GET", p.URL+"/metrics", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			metrics = string(raw)
		}
		return strings.Contains(metrics, "\ngoqueue_http_requests_in_flight 2\n")
	}, "the trickling request in its handler")
	http.DefaultClient.CloseIdleConnections()

	p.Signal(syscall.SIGTERM)
	select {
	case <-p.Exited():
		t.Fatalf("exited (%v) while a request was in progress, 1 m before the shutdown deadline", p.Err())
	case <-time.After(500 * time.Millisecond):
	}
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.Exited():
		err := p.Err()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("after the second signal: %v, want exit status 1", err)
		}
		if !strings.Contains(p.Log(), "forced exit") {
			t.Errorf("no forced-exit line:\n%s", p.Log())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit 5 s after the second signal")
	}
}
