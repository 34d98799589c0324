package client_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// Environment of a worker process: the test binary run again as one
// consumer of the group.
const (
	envWorkerURL = "GOQUEUE_TEST_WORKER_URL"
	envWorkerLog = "GOQUEUE_TEST_WORKER_LOG"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(envWorkerURL); url != "" {
		os.Exit(worker(url, os.Getenv(envWorkerLog)))
	}
	// Every goroutine of producers and consumers must end with Close.
	goleak.VerifyTestMain(m)
}

// worker consumes group "workers" of topic "flow" until SIGTERM, writing
// one line per processed message, "partition offset startNs endNs value",
// before acknowledging it. Close at SIGTERM commits and leaves; SIGKILL
// leaves the broker to notice through the session timeout.
func worker(url, logPath string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	// SIGTERM handled from here on: say so, or a worker started just before
	// the test stops them would die of the signal instead of closing.
	if err := os.WriteFile(logPath+".ready", nil, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	cons, err := client.NewConsumer(&client.ConsumerConfig{
		Brokers: []string{url}, GroupID: "workers", Topics: []string{"flow"},
		SessionTimeout: time.Second, PollWait: 100 * time.Millisecond,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for ctx.Err() == nil {
		msgs, err := cons.Poll(ctx, 200)
		if err != nil {
			continue
		}
		for _, m := range msgs {
			start := time.Now().UnixNano()
			fmt.Fprintf(f, "%d %d %d %d %s\n", m.Partition, m.Offset, start, time.Now().UnixNano(), m.Value)
			_ = cons.Ack(m)
		}
	}
	if err := cons.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// span is one message processed by one worker process.
type span struct {
	worker     int
	offset     int64
	start, end int64
}

// TestGroupOfProcessesSurvivesSIGKILL runs three consumer processes of one
// group while 100,000 messages are published, SIGKILLs one at random about
// every 700 ms and starts a new one in its place. Every message must be
// processed at least once, the group's lag must reach zero, and no two
// worker processes may process the same partition at overlapping times.
func TestGroupOfProcessesSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	srv := brokertest.Start(t, brokertest.WithConfig(func(c *broker.Config) {
		c.Groups.MinSessionTimeout = 300 * time.Millisecond
	}))
	admin, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := admin.CreateTopic(ctx, api.CreateTopicRequest{Name: "flow", Partitions: 6}); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var (
		mu    sync.Mutex
		procs = map[int]*exec.Cmd{} // live workers by number
		logs  []string
		ready = map[*exec.Cmd]string{} // the file a worker writes once it handles SIGTERM
		seq   int
	)
	start := func() {
		mu.Lock()
		defer mu.Unlock()
		seq++
		logPath := filepath.Join(dir, fmt.Sprintf("worker-%d.log", seq))
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), envWorkerURL+"="+srv.URL, envWorkerLog+"="+logPath)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[seq] = cmd
		logs = append(logs, logPath)
		ready[cmd] = logPath + ".ready"
	}
	for range 3 {
		start()
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	})

	const n = 100_000
	published := make(chan error, 1)
	go func() {
		p, err := client.NewProducer(&client.ProducerConfig{Brokers: []string{srv.URL}})
		if err != nil {
			published <- err
			return
		}
		defer p.Close()
		var failed atomic.Pointer[error]
		for i := range n {
			p.PublishAsync(ctx, "flow", &client.Record{Key: []byte(fmt.Sprint(i % 97)), Value: []byte(fmt.Sprint(i))},
				func(_ client.Position, err error) {
					if err != nil {
						failed.CompareAndSwap(nil, &err)
					}
				})
			if i%2000 == 0 {
				time.Sleep(50 * time.Millisecond) // about 40,000 msg/s, so kills land while messages flow
			}
		}
		err = p.Flush(ctx)
		if e := failed.Load(); e != nil {
			err = *e
		}
		published <- err
	}()

	// Kill and replace workers while the messages flow, and a little after.
	kills := 0
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(700 * time.Millisecond)
		mu.Lock()
		ids := make([]int, 0, len(procs))
		for id := range procs {
			ids = append(ids, id)
		}
		victim := procs[ids[rand.IntN(len(ids))]]
		for id, p := range procs {
			if p == victim {
				delete(procs, id)
			}
		}
		mu.Unlock()
		_ = victim.Process.Signal(syscall.SIGKILL)
		_ = victim.Wait()
		kills++
		start()
	}
	if err := <-published; err != nil {
		t.Fatalf("publish: %v", err)
	}
	// Deadlines here are for conditions, generous for a loaded machine: a
	// 2-core machine at load 20 took a minute for this whole test.
	lagFrom := time.Now()
	waitLagWithin(t, admin, "workers", 3*time.Minute)
	t.Logf("lag reached 0 %v after the last publish", time.Since(lagFrom).Round(time.Millisecond))

	// Stop the survivors gracefully: Close commits and leaves.
	mu.Lock()
	for id, p := range procs {
		// SIGTERM before the worker handles it would kill it, not close it.
		if !testkit.Within(time.Minute, func() bool { _, err := os.Stat(ready[p]); return err == nil }) {
			mu.Unlock() // the cleanup kills the workers
			t.Fatalf("worker %d never got ready to handle SIGTERM", id)
		}
		_ = p.Process.Signal(syscall.SIGTERM)
		if err := p.Wait(); err != nil {
			t.Errorf("worker %d: %v", id, err)
		}
		delete(procs, id)
	}
	mu.Unlock()

	seen := make([]bool, n)
	byPart := make(map[int32][]span)
	dups := 0
	for w, path := range logs {
		readSpans(t, path, w, seen, byPart, &dups)
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("message %d was never processed", i)
		}
	}
	for p, spans := range byPart {
		sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
		lastEnd := make(map[int]int64) // worker → end of its latest span so far
		for _, s := range spans {
			for w, end := range lastEnd {
				if w != s.worker && end > s.start {
					t.Fatalf("partition %d: worker %d processed offset %d from %d while worker %d was still busy until %d",
						p, s.worker, s.offset, s.start, w, end)
				}
			}
			lastEnd[s.worker] = s.end
		}
	}
	// The survivors left; a worker SIGKILLed less than a session timeout
	// ago is still a member until the broker fences it.
	var g *api.GroupDescription
	testkit.Within(10*time.Second, func() bool {
		if g, err = admin.Group(ctx, "workers"); err != nil {
			t.Fatal(err)
		}
		return g.State == api.GroupStateEmpty
	})
	if g.State != api.GroupStateEmpty || g.Lag != 0 {
		t.Fatalf("after graceful stop: state %s lag %d", g.State, g.Lag)
	}
	t.Logf("%d messages, %d workers SIGKILLed, %d processed more than once, %d rebalances", n, kills, dups, g.Rebalances.Count)
}

// readSpans reads one worker's log.
func readSpans(t *testing.T, path string, w int, seen []bool, byPart map[int32][]span, dups *int) {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var (
			p     int32
			s     span
			value int
		)
		if _, err := fmt.Sscanf(sc.Text(), "%d %d %d %d %d", &p, &s.offset, &s.start, &s.end, &value); err != nil {
			continue // a line torn by SIGKILL
		}
		s.worker = w
		if seen[value] {
			*dups++
		}
		seen[value] = true
		byPart[p] = append(byPart[p], s)
	}
}

// waitLagWithin waits for the group's lag to reach zero with every message
// committed.
func waitLagWithin(t *testing.T, c *client.Client, group string, d time.Duration) {
	t.Helper()
	testkit.EventuallyNil(t, d, func() error {
		g, err := c.Group(context.Background(), group)
		if err == nil && g.Lag == 0 && len(g.Partitions) > 0 {
			return nil
		}
		return fmt.Errorf("group %s: lag never reached 0: %+v, %v", group, g, err)
	})
}
