package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testBroker stands in for internal/broker (which the coordinator's tests
// cannot import): a Broker over real commitlog logs in a temporary
// directory, with topics to create, grow, delete and append to. Its DLQ
// keeps the dead letters in memory, or fails while failDLQ says so; the
// group settings outlive the coordinators opened on it, as meta.db does.
type testBroker struct {
	t    testing.TB
	dir  string
	now  func() time.Time
	opts commitlog.Options // of the logs created next

	mu       sync.Mutex
	topics   map[string]Topic // guarded by mu
	changed  chan struct{}    // guarded by mu
	dirs     int              // guarded by mu: logs created, naming their directories
	failDLQ  error            // guarded by mu: what dead-letter writes return
	dead     []groupstate.DeadLetter
	settings map[string]groupstate.Saved
	// onPartition, if set, runs (outside mu) at the next Partition call
	// only: something racing a command that reads a log.
	onPartition func()
}

func newTestBroker(t testing.TB, now func() time.Time) *testBroker {
	tb := &testBroker{t: t, dir: t.TempDir(), now: now, topics: make(map[string]Topic),
		changed: make(chan struct{}), settings: make(map[string]groupstate.Saved)}
	t.Cleanup(func() {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		for _, top := range tb.topics {
			for _, l := range top.Logs {
				l.Close()
			}
		}
	})
	return tb
}

// testConfig is a coordinator's config with its files in a temporary
// directory and the clock of now (nil: time.Now).
func testConfig(t testing.TB, now func() time.Time) Config {
	return Config{DataDir: t.TempDir(), Fsync: commitlog.FsyncInterval, FsyncInterval: 100 * time.Millisecond,
		MaxGroups: 1000, MaxMembers: 1000, Logger: slog.New(slog.DiscardHandler), Now: now}
}

func mustOpen(t testing.TB, cfg Config, b Broker) *Coordinator {
	t.Helper()
	c, err := Open(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// openTest opens a coordinator over a new testBroker, closed at cleanup.
func openTest(t testing.TB, now func() time.Time) (*Coordinator, *testBroker) {
	t.Helper()
	if now == nil {
		now = time.Now
	}
	tb := newTestBroker(t, now)
	c := mustOpen(t, testConfig(t, now), tb)
	t.Cleanup(func() { c.Close() })
	return c, tb
}

// runTest opens a coordinator of cfg over tb with Run going; the returned
// function stops and closes it.
func runTest(t testing.TB, cfg Config, tb *testBroker) (*Coordinator, func()) {
	t.Helper()
	c := mustOpen(t, cfg, tb)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return c, func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}
}

func (tb *testBroker) notifyLocked() {
	close(tb.changed)
	tb.changed = make(chan struct{})
}

func (tb *testBroker) openLogLocked() *commitlog.Log {
	tb.dirs++
	opts := tb.opts
	opts.Now = tb.now
	l, err := commitlog.Open(filepath.Join(tb.dir, fmt.Sprint(tb.dirs)), opts)
	if err != nil {
		tb.t.Fatal(err)
	}
	return l
}

// createTopic creates a topic of parts partitions, born now.
func (tb *testBroker) createTopic(name string, parts int32) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if _, ok := tb.topics[name]; ok {
		tb.t.Fatalf("topic %q exists", name)
	}
	top := Topic{Name: name, CreatedAt: tb.now().UnixMilli(), MaxMessageBytes: 1 << 20}
	for range parts {
		top.Logs = append(top.Logs, tb.openLogLocked())
	}
	tb.topics[name] = top
	tb.notifyLocked()
}

// addPartitions grows a topic to n partitions.
func (tb *testBroker) addPartitions(name string, n int32) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	top := tb.topics[name]
	top.Logs = slices.Clone(top.Logs)
	for int32(len(top.Logs)) < n {
		top.Logs = append(top.Logs, tb.openLogLocked())
	}
	tb.topics[name] = top
	tb.notifyLocked()
}

// deleteTopic deletes a topic and closes its logs.
func (tb *testBroker) deleteTopic(name string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, l := range tb.topics[name].Logs {
		l.Close()
	}
	delete(tb.topics, name)
	tb.notifyLocked()
}

// publish appends one record of each value to partition p of topic,
// stamped now.
func (tb *testBroker) publish(topic string, p int32, values ...[]byte) {
	tb.t.Helper()
	l, err := tb.Partition(topic, p)
	if err != nil {
		tb.t.Fatal(err)
	}
	recs := make([]commitlog.Record, len(values))
	for i, v := range values {
		recs[i] = commitlog.Record{Value: v, Timestamp: tb.now().UnixMilli()}
	}
	if _, err := l.Append(recs); err != nil {
		tb.t.Fatal(err)
	}
}

// log returns partition p of topic.
func (tb *testBroker) log(topic string, p int32) *commitlog.Log {
	tb.t.Helper()
	l, err := tb.Partition(topic, p)
	if err != nil {
		tb.t.Fatal(err)
	}
	return l
}

// setFailDLQ makes every dead-letter write fail with err (nil: succeed).
func (tb *testBroker) setFailDLQ(err error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.failDLQ = err
}

func (tb *testBroker) deadLetters() []groupstate.DeadLetter {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return slices.Clone(tb.dead)
}

func (tb *testBroker) Topic(name string) (Topic, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	top, ok := tb.topics[name]
	if !ok {
		return Topic{}, api.ErrTopicNotFound.Withf("topic %q does not exist", name)
	}
	return top, nil
}

func (tb *testBroker) Topics() []Topic {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	out := make([]Topic, 0, len(tb.topics))
	for _, name := range slices.Sorted(maps.Keys(tb.topics)) {
		out = append(out, tb.topics[name])
	}
	return out
}

func (tb *testBroker) Partition(topic string, p int32) (*commitlog.Log, error) {
	tb.mu.Lock()
	hook := tb.onPartition
	tb.onPartition = nil
	tb.mu.Unlock()
	if hook != nil {
		hook()
	}
	top, err := tb.Topic(topic)
	if err != nil {
		return nil, err
	}
	if p < 0 || int(p) >= len(top.Logs) {
		return nil, api.ErrPartitionNotFound.Withf("topic %q has no partition %d", topic, p)
	}
	return top.Logs[p], nil
}

func (tb *testBroker) TopicsChanged() <-chan struct{} {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.changed
}

func (tb *testBroker) Skipped(topic string, p int32, off int64) bool {
	l, err := tb.Partition(topic, p)
	if err != nil {
		return false
	}
	_, ok := l.Skipped(off)
	return ok
}

func (tb *testBroker) LogError(err error, topic string, p int32) error {
	var re *commitlog.RangeError
	if errors.As(err, &re) {
		return api.ErrOffsetOutOfRange.Withf("%s/%d: %v", topic, p, err)
	}
	return fmt.Errorf("%s/%d: %w", topic, p, err)
}

func (tb *testBroker) Writable() error { return nil }

func (tb *testBroker) StorageError(err error, what string) error {
	return fmt.Errorf("%s: %w", what, err)
}

func (tb *testBroker) WriteDeadLetter(group string, dl groupstate.DeadLetter) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.failDLQ != nil {
		return tb.failDLQ
	}
	tb.dead = append(tb.dead, dl)
	return nil
}

func (tb *testBroker) GroupSettings() (map[string]groupstate.Saved, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return maps.Clone(tb.settings), nil
}

func (tb *testBroker) SaveGroupSettings(group string, s groupstate.Saved) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if s == (groupstate.Saved{}) {
		delete(tb.settings, group)
	} else {
		tb.settings[group] = s
	}
	return nil
}
