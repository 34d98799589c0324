package chaostest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// Members join, leave and are killed while messages flow, with the
// cooperative-sticky assignor (incremental handoffs)...
func TestChaosCooperativeSticky(t *testing.T) { runChaos(t, api.AssignorCooperativeSticky) }

// ...and with range, which rebalances eagerly: every member gives up
// everything at each change.
func TestChaosRange(t *testing.T) { runChaos(t, api.AssignorRange) }

// Bounds of the fleet of workers while the chaos runs.
const (
	initialWorkers = 3
	minWorkers     = 1
	maxWorkers     = 5
)

// proc is one worker process.
type proc struct {
	id     int
	cmd    *exec.Cmd
	log    string
	killed bool
	end    int64 // wall clock once reaped
}

// fleet starts and stops the worker processes of one group. Only the test
// goroutine and its cleanup call its methods; mu guards live and all all
// the same, and joins and leaves are touched by the test goroutine only.
type fleet struct {
	t        *testing.T
	exe, dir string
	env      []string
	mu       sync.Mutex
	live     []*proc
	all      []*proc
	joins    int
	leaves   int
}

// startFleet starts initialWorkers worker processes (this test binary,
// told by env which worker to be), their logs in a temporary directory
// or under -logs; the test's cleanup kills those still running.
func startFleet(t *testing.T, env ...string) *fleet {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if *logsFlag != "" {
		dir = filepath.Join(*logsFlag, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f := &fleet{t: t, exe: exe, dir: dir, env: env}
	t.Cleanup(func() {
		for f.size() > 0 {
			f.stop(0, true)
		}
	})
	for range initialWorkers {
		f.start()
	}
	return f
}

func (f *fleet) start() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	p := &proc{id: len(f.all) + 1}
	p.log = filepath.Join(f.dir, fmt.Sprintf("worker-%d.log", p.id))
	p.cmd = exec.Command(f.exe, "-test.run=^$")
	p.cmd.Env = append(os.Environ(), append(f.env, envWorkerLog+"="+p.log)...)
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.live = append(f.live, p)
	f.all = append(f.all, p)
	f.joins++
	// Wait for the log: from then on SIGTERM means Close.
	testkit.EventuallyNil(f.t, 30*time.Second, func() error {
		if _, err := os.Stat(p.log); err != nil {
			return fmt.Errorf("worker %d did not start: %w", p.id, err)
		}
		return nil
	})
}

// stop ends worker i of the live ones: SIGKILL, or SIGTERM and a graceful
// Close, which must succeed or report only acknowledgements lost (the
// worker exits 0 then).
func (f *fleet) stop(i int, kill bool) {
	f.t.Helper()
	f.mu.Lock()
	p := f.live[i]
	f.live = append(f.live[:i], f.live[i+1:]...)
	f.mu.Unlock()
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = p.cmd.Process.Signal(sig)
	err := p.cmd.Wait()
	p.end, p.killed = time.Now().UnixNano(), kill
	if !kill {
		f.leaves++
		if err != nil {
			f.t.Errorf("worker %d did not close cleanly (its stderr says why): %v", p.id, err)
		}
	}
}

func (f *fleet) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.live)
}

// churn changes the membership every 150–600 ms, at random: a worker
// starts, leaves gracefully or is killed, within the fleet's bounds. It
// stops when done delivers and returns what it delivered.
func (f *fleet) churn(rng *rand.Rand, done <-chan error) error {
	for {
		select {
		case err := <-done:
			return err
		case <-time.After(time.Duration(150+rng.IntN(450)) * time.Millisecond):
		}
		live := f.size()
		switch r := rng.IntN(100); {
		case live <= minWorkers || live < maxWorkers && r < 35:
			f.start()
		case r < 60:
			f.stop(rng.IntN(live), false)
		default:
			f.stop(rng.IntN(live), true)
		}
	}
}

// settings are the sizes of a run.
func settings() (messages, rate int) {
	messages, rate = 25_000, 5_000
	if *longRun {
		messages, rate = 1_000_000, 20_000
	}
	if *msgsFlag > 0 {
		messages = *msgsFlag
	}
	if *rateFlag > 0 {
		rate = *rateFlag
	}
	return messages, rate
}

func runChaos(t *testing.T, assignor string) {
	if testing.Short() {
		t.Skip("runs the real binary and a fleet of worker processes")
	}
	n, rate := settings()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (-chaos.seed), %d messages at %d/s", seed, n, rate)
	rng := rand.New(rand.NewPCG(seed, 0))

	url := testkit.Start(t, goqueue.Path(t), testkit.Options{
		Args:         []string{"--min-session-timeout", "200ms"},
		StartTimeout: 30 * time.Second,
	}).URL
	admin, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := admin.CreateTopic(ctx, api.CreateTopicRequest{Name: topic, Partitions: partitions}); err != nil {
		t.Fatal(err)
	}
	group := "chaos-" + assignor
	f := startFleet(t, envWorkerURL+"="+url, envWorkerGroup+"="+group, envWorkerAssignor+"="+assignor)

	began := time.Now()
	published := make(chan error, 1)
	go func() { published <- publish(ctx, url, n, rate) }()

	pubErr := f.churn(rng, published)
	joins, leaves := f.joins-initialWorkers, f.leaves
	if pubErr != nil {
		t.Fatalf("publish: %v", pubErr)
	}
	flowed := time.Since(began)
	drain := 60 * time.Second
	if *longRun {
		drain = 5 * time.Minute
	}
	g := waitDrained(t, admin, group, drain)
	for f.size() > 0 {
		f.stop(0, false)
	}

	members := make([]memberLog, 0, len(f.all))
	for _, p := range f.all {
		events, err := readLog(p.log)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, memberLog{id: p.id, events: events, killed: p.killed, end: p.end})
	}
	v := check(n, members)
	for _, p := range v.problems {
		t.Error(p)
	}
	t.Logf("%s: %d messages published in %v, drained after %v; while they flowed: %d joins, %d graceful leaves, %d kills; %d losses; "+
		"%d deliveries, %d duplicates (%d stale), %d ownership intervals; %d rebalances",
		assignor, n, flowed.Round(time.Millisecond), time.Since(began).Round(time.Millisecond), joins, leaves, v.kills, v.losses,
		v.deliveries, v.duplicates, v.stale, v.intervals, g.Rebalances.Count)
}

// publish sends messages "0".."n-1" at about rate per second, keyed so that
// they spread over the partitions, and waits until all are acknowledged.
func publish(ctx context.Context, url string, n, rate int) error {
	p, err := client.NewProducer(&client.ProducerConfig{Brokers: []string{url}})
	if err != nil {
		return err
	}
	defer p.Close()
	var failed atomic.Pointer[error]
	const tick = 10 * time.Millisecond
	perTick := max(1, rate/int(time.Second/tick))
	next := time.Now()
	for i := 0; i < n; {
		for end := min(n, i+perTick); i < end; i++ {
			p.PublishAsync(ctx, topic, &client.Record{Key: []byte(strconv.Itoa(i % 101)), Value: []byte(strconv.Itoa(i))},
				func(_ client.Position, err error) {
					if err != nil {
						failed.CompareAndSwap(nil, &err)
					}
				})
		}
		next = next.Add(tick)
		time.Sleep(time.Until(next))
	}
	err = p.Flush(ctx)
	if e := failed.Load(); e != nil {
		err = *e
	}
	return err
}

// waitDrained waits until the group has committed every message of every
// partition and holds none in flight.
func waitDrained(t *testing.T, c *client.Client, group string, d time.Duration) *api.GroupDescription {
	t.Helper()
	var g *api.GroupDescription
	testkit.EventuallyNil(t, d, func() error {
		var err error
		g, err = c.Group(context.Background(), group)
		if err == nil && g.Lag == 0 && len(g.Partitions) == partitions && inFlight(g) == 0 {
			return nil
		}
		return fmt.Errorf("group %s did not drain: %+v, %v", group, g, err)
	})
	return g
}

func inFlight(g *api.GroupDescription) int {
	sum := 0
	for _, m := range g.Members {
		sum += m.InFlight
	}
	return sum
}
