package crashtest

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

var (
	longRun   = flag.Bool("crash.long", os.Getenv("GOQUEUE_CRASH_LONG") == "1", "run the long crash tests (also GOQUEUE_CRASH_LONG=1)")
	seedFlag  = flag.Uint64("crash.seed", 0, "seed of the kill schedule and request shapes; 0 takes one from the clock")
	killsFlag = flag.Int("crash.kills", 0, "kills per test; 0 means 10, or 200 with -crash.long")
)

// goqueue is built on first use and removed by TestMain.
var goqueue testkit.Binary

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	goqueue.Cleanup()
	os.Exit(code)
}

const (
	topic      = "crash"
	partitions = 6
	producers  = 4
	group      = "crash-group"
	// startTimeout bounds how long a start (recovery included) may take.
	startTimeout = 30 * time.Second
	// epochTimeout bounds the wait for an epoch's acknowledgements; only a
	// hung or dead broker reaches it.
	epochTimeout = 30 * time.Second
)

// Under fsync=always an acknowledged publish is on disk before its answer,
// so no kill may lose it, and no kill may lower a confirmed group offset.
func TestCrashFsyncAlways(t *testing.T) { runCrash(t, "always") }

// Under fsync=interval a publish is answered once written, before its fsync:
// the bytes are in the kernel's page cache, which a process crash does not
// touch, so a SIGKILL must lose nothing either. (A power loss could lose up
// to the interval; no test here can pull the plug.)
func TestCrashFsyncInterval(t *testing.T) { runCrash(t, "interval") }

// Under fsync=never the kernel alone decides when to write back, and still
// a process crash must lose nothing acknowledged, for the same reason.
func TestCrashFsyncNever(t *testing.T) { runCrash(t, "never") }

// crash is one crash test: the broker binary on one data directory, killed
// and restarted, and everything the test was told by it.
type crash struct {
	t     *testing.T
	bin   string
	fsync string
	opts  testkit.Options
	rng   *rand.Rand // the kill schedule
	led   *ledger
	prods []*producer
	cons  *consumer

	starts           int           // kills of a starting broker, besides the kills under load
	startsRecovering int           // those that came after it began recovering, before it listened
	slowestStart     time.Duration // from exec to listening
}

func runCrash(t *testing.T, fsync string) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	kills := *killsFlag
	if kills <= 0 {
		kills = 10
		if *longRun {
			kills = 200
		}
	}
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("fsync=%s, %d kills, seed %d (replay with -crash.seed=%d)", fsync, kills, seed, seed)

	dir := filepath.Join(t.TempDir(), "data")
	c := &crash{
		t:     t,
		bin:   goqueue.Path(t),
		fsync: fsync,
		opts: testkit.Options{
			Dir:          dir,
			Args:         []string{"--fsync", fsync, "--segment-bytes", "8KiB"},
			StartTimeout: startTimeout,
		},
		rng:  rand.New(rand.NewPCG(seed, 0)),
		led:  newLedger(),
		cons: newConsumer(group, topic, partitions, seed),
	}
	for i := range producers {
		c.prods = append(c.prods, newProducer(i, seed, topic, partitions, c.led))
	}
	began := time.Now()
	for k := range kills {
		c.epoch(k)
	}
	c.final()
	t.Logf("%d kills under load and %d while starting (%d of them while it recovered; slowest start %v), in %v",
		kills, c.starts, c.startsRecovering, c.slowestStart.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

// target picks how many more acknowledgements an epoch waits for before its
// kill: mostly hundreds to a couple of thousand, sometimes a handful, so
// that some kills come right after a restart.
func (c *crash) target() int {
	if c.rng.IntN(5) == 0 {
		return 1 + c.rng.IntN(20)
	}
	return 200 + c.rng.IntN(1800)
}

// epoch starts the broker, checks it kept everything confirmed so far, runs
// the producers and the consumer until a random number of acknowledgements,
// and kills the broker with SIGKILL under load.
func (c *crash) epoch(k int) {
	t := c.t
	if k > 0 && c.rng.IntN(4) == 0 {
		c.killStarting()
	}
	began := time.Now()
	p := testkit.Start(t, c.bin, c.opts)
	took := time.Since(began)
	c.slowestStart = max(c.slowestStart, took)
	cl := newClient(p.URL)
	defer cl.close()
	ctx := context.Background()
	if k == 0 {
		var info api.Topic
		if err := cl.call(ctx, "POST", "/topics", api.CreateTopicRequest{Name: topic, Partitions: partitions}, &info); err != nil {
			t.Fatal(err)
		}
		if info.Fsync != c.fsync {
			t.Fatalf("topic created with fsync %q, want the broker's default %q", info.Fsync, c.fsync)
		}
	} else {
		c.checkRestart(ctx, p, cl)
	}

	redelivered := c.cons.redelivered
	want := c.led.count() + c.target()
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ectx)
	for _, pr := range c.prods {
		g.Go(func() error { return pr.run(gctx, cl) })
	}
	g.Go(func() error { return c.cons.run(gctx, cl) })
	reached := c.led.waitAcked(gctx, p.Exited(), want, epochTimeout)
	died := !p.Alive()
	p.Kill()
	cancel()
	if err := g.Wait(); err != nil {
		t.Fatalf("epoch %d: %v\nbroker log:\n%s", k, err, p.Log())
	}
	if died {
		t.Fatalf("epoch %d: the broker exited by itself: %v\n%s", k, p.Err(), p.Log())
	}
	if !reached {
		t.Fatalf("epoch %d: %d acknowledgements within %v, wanted %d\n%s", k, c.led.count(), epochTimeout, want, p.Log())
	}
	t.Logf("epoch %d: started in %v; %d redeliveries of messages in flight at the last kill; killed at %d acknowledged messages (target %d)",
		k, took.Round(time.Millisecond), c.cons.redelivered-redelivered, c.led.count(), want)
}

// killStarting starts the broker and kills it at a random moment within the
// slowest start seen so far, often while it recovers its logs, so that
// recovery's own repairs are interrupted too.
func (c *crash) killStarting() {
	p := testkit.Launch(c.t, c.bin, c.opts)
	select {
	case <-time.After(time.Duration(c.rng.Int64N(int64(c.slowestStart) + 1))):
	case <-p.Exited():
		c.t.Fatalf("the broker exited by itself while starting: %v\n%s", p.Err(), p.Log())
	}
	p.Kill()
	c.starts++
	select {
	case <-p.Listening():
	default:
		if strings.Contains(p.Log(), "msg=recovering") {
			c.startsRecovering++
		}
	}
}

// checkRestart checks a restarted broker: no partition's high watermark is
// below an acknowledged offset, and no group offset below a confirmed one.
func (c *crash) checkRestart(ctx context.Context, p *testkit.Proc, cl *client) {
	t := c.t
	t.Helper()
	hwms := c.highWatermarks(ctx, cl)
	for part, want := range c.led.highWatermarks() {
		if hwms[part] < want {
			t.Fatalf("after a restart partition %d ends at %d, but offset %d was acknowledged\n%s", part, hwms[part], want-1, p.Log())
		}
	}
	if err := c.cons.checkOffsets(ctx, cl); err != nil {
		t.Fatalf("after a restart: %v\n%s", err, p.Log())
	}
}

func (c *crash) highWatermarks(ctx context.Context, cl *client) map[int32]int64 {
	var info api.Topic
	if err := cl.call(ctx, "GET", "/topics/"+topic, nil, &info); err != nil {
		c.t.Fatal(err)
	}
	out := make(map[int32]int64)
	for _, pi := range info.PartitionInfo {
		if pi.EarliestOffset != 0 {
			c.t.Fatalf("partition %d starts at %d: retention must not run here", pi.Partition, pi.EarliestOffset)
		}
		out[pi.Partition] = pi.HighWatermark
	}
	return out
}

// final restarts the broker once more, reads every partition from offset 0
// and verifies it against the ledger, then lets the consumer drain the topic
// and checks the group got every message.
func (c *crash) final() {
	t := c.t
	p := testkit.Start(t, c.bin, c.opts)
	cl := newClient(p.URL)
	defer cl.close()
	ctx := context.Background()
	c.checkRestart(ctx, p, cl)
	hwms := c.highWatermarks(ctx, cl)
	logs := make(map[int32][]stored)
	for part := range int32(partitions) {
		logs[part] = c.readPartition(ctx, cl, part, hwms[part])
	}
	sentMsgs := c.led.snapshot()
	if problems := verify(sentMsgs, logs); len(problems) > 0 {
		t.Fatalf("after %d messages sent:\n%s\nbroker log:\n%s", len(sentMsgs), joinLines(problems), p.Log())
	}
	var stored, unackedKept int
	for _, l := range logs {
		stored += len(l)
	}
	acked := c.led.count()
	unackedKept = stored - acked
	t.Logf("%d messages sent, %d acknowledged, all present once at their offsets; %d of %d unacknowledged present",
		len(sentMsgs), acked, unackedKept, len(sentMsgs)-acked)

	if err := c.cons.consume(ctx, cl, true); err != nil {
		t.Fatalf("draining the group: %v\n%s", err, p.Log())
	}
	if err := c.cons.checkCoverage(ctx, cl, hwms); err != nil {
		t.Fatalf("group: %v\n%s", err, p.Log())
	}
	cs := c.cons
	t.Logf("group: %d polls with messages, %d acks and %d commits confirmed, %d redeliveries of messages in flight at a kill; every stored message delivered, committed offsets at the high watermarks",
		cs.polls, cs.acks, cs.commits, cs.redelivered)
}

// readPartition fetches partition part from offset 0 up to hwm.
func (c *crash) readPartition(ctx context.Context, cl *client, part int32, hwm int64) []stored {
	var out []stored
	for next := int64(0); next < hwm; {
		var r api.FetchResponse
		if err := cl.call(ctx, "GET", fmt.Sprintf("/topics/%s/partitions/%d/messages?offset=%d&max=1000", topic, part, next), nil, &r); err != nil {
			c.t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			c.t.Fatalf("partition %d: no messages at %d, below the high watermark %d", part, next, hwm)
		}
		for _, m := range r.Messages {
			out = append(out, stored{Offset: m.Offset, Value: m.Value})
		}
		next = r.NextOffset
	}
	return out
}

func joinLines(lines []string) string { return "  " + strings.Join(lines, "\n  ") }
