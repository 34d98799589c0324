// Package broker is the core every front end drives. It owns the topics
// (their settings in meta.db, one commitlog per partition, the loops that
// flush, trim and verify the logs), publishing and fetching, dead-letter
// topics and their replay, and the data directory's health. It owns no
// consumer group: internal/coordinator does (membership, in-flight
// messages, committed offsets, history); the broker opens it, serves it
// its topics, logs, DLQs and meta.db through the interface the coordinator
// defines (coordio.go), and passes the group methods on to it (groups.go).
//
// Its API is its own vocabulary (topicio.go, and the coordinator's types
// it re-exports): durations, not milliseconds, and no wire names. It knows nothing of HTTP or the Kafka
// protocol: internal/httpapi and internal/kafka map their requests onto it
// and check their own fields. Its errors come from the one coded table in
// api/errors.go, which says how each front end reports them.
package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/budget"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/coordinator"
	"github.com/abd-ulbasit/goqueue/internal/periodic"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// Broker is an open data directory. Its exported methods are safe for
// concurrent use. Lifecycle: Open recovers everything, Run runs the
// background loops until its context ends, Close syncs and closes the files
// (call it after Run has returned).
type Broker struct {
	cfg       Config // immutable after Open
	log       *slog.Logger
	now       func() time.Time
	sleep     func(time.Duration) // time.Sleep; tests advance their clock
	meta      *metaStore
	storage   *storage             // the data directory's identity; see storage.go
	files     *commitlog.FileCache // sealed segment files open, shared by every log
	topicsDir string
	coord     *coordinator.Coordinator // consumer groups; set in Open
	latency   latencies                // for metrics; lock-free
	// repl takes the writes of replicated topics (replicate.go); nil on a
	// single broker. Set before serving, never changed after.
	repl Replicator
	// producerIDs hands out idempotent producers' IDs (producerids.go).
	producerIDs idBlocks
	// decompress bounds the decompressed record data of the compressed
	// batches being checked or read at once (Config.MaxDecompressBytes);
	// every partition's log is charged to it.
	decompress *budget.Bytes

	// adminMu serialises topic changes (create, delete, add partitions), which
	// do slow I/O; mu is held only to swap map entries, so reads never wait
	// on an fsync of meta.db.
	adminMu sync.Mutex
	// replayMu serialises the replays of a cluster's DLQs on this node
	// (a single broker's hold meta.db's write transaction instead).
	replayMu sync.Mutex

	mu     sync.RWMutex
	topics map[string]*topic // guarded by mu; a *topic is immutable
	// byID names each topic of topics by its Kafka ID (guarded by mu): an
	// ID is a hash, computed once when the topic is created or recovered
	// (altering a topic keeps its name and creation time, so its ID).
	byID    map[[16]byte]string
	changed chan struct{} // guarded by mu; closed and replaced on every topic change
	closed  bool          // guarded by mu
}

// topic is one version of a topic: AddPartitions replaces it with a new
// version that shares the existing partitions and round-robin counter.
type topic struct {
	cfg   TopicConfig
	parts []*partition // len(parts) == cfg.Partitions
	rr    *atomic.Uint32
}

// partition is one open partition log.
type partition struct {
	id      int32
	log     *commitlog.Log
	dirty   atomic.Bool // appended since the flusher last synced it
	traffic traffic     // counters for metrics
	// producers are the idempotent producers' sequences (producers.go).
	producers partProducers
}

// Open opens or creates the data directory in cfg and recovers it: topics
// whose deletion was interrupted are removed, and every partition log is
// opened (which truncates torn tails). It fails on an invalid cfg.
func Open(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("broker: invalid config: %w", err)
	}
	b := &Broker{
		cfg:        cfg,
		log:        cfg.Logger,
		now:        cfg.Now,
		sleep:      time.Sleep,
		topicsDir:  filepath.Join(cfg.DataDir, "topics"),
		decompress: budget.New(cmp.Or(cfg.MaxDecompressBytes, DefaultMaxDecompressBytes)),
		topics:     make(map[string]*topic),
		byID:       make(map[[16]byte]string),
		changed:    make(chan struct{}),
		files:      commitlog.NewFileCache(cfg.MaxOpenSegments),
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.now == nil {
		b.now = time.Now
	}
	if err := os.MkdirAll(b.topicsDir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: create data dir: %w", err)
	}
	meta, err := openMeta(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	b.meta = meta
	if b.storage, err = newStorage(cfg.DataDir, b.topicsDir); err != nil {
		meta.close()
		return nil, err
	}
	if err := b.recover(); err != nil {
		b.closeLogs()
		meta.close()
		return nil, err
	}
	if err := b.openGroups(); err != nil {
		b.closeLogs()
		meta.close()
		return nil, err
	}
	return b, nil
}

func (b *Broker) recover() error {
	stored, err := b.meta.topics()
	if err != nil {
		return err
	}
	for _, cfg := range stored {
		if cfg.Deleted {
			b.log.Info("finishing interrupted topic deletion", "topic", cfg.Name)
			if err := b.removeTopicFiles(cfg.Name); err != nil {
				return err
			}
			continue
		}
		t := &topic{cfg: cfg, rr: new(atomic.Uint32)}
		parts, err := b.openPartitions(&cfg, 0, cfg.Partitions)
		if err != nil {
			return err
		}
		t.parts = parts
		b.topics[cfg.Name] = t
		b.byID[cfg.ID()] = cfg.Name
	}
	b.log.Info("broker recovered", "data_dir", b.cfg.DataDir, "topics", len(b.topics))
	return nil
}

// openPartitions opens partitions [from, to) of cfg; on failure it closes
// those it opened.
func (b *Broker) openPartitions(cfg *TopicConfig, from, to int32) ([]*partition, error) {
	parts := make([]*partition, 0, to-from)
	for p := from; p < to; p++ {
		opts := cfg.logOptions(b.now)
		opts.OnCorrupt = b.reportCorrupt(cfg.Name, p)
		opts.Files = b.files
		opts.Decompress = b.decompress
		held, err := replicaMarked(b.partitionDir(cfg.Name, p))
		if err != nil {
			for _, q := range parts {
				q.log.Close()
			}
			return nil, fmt.Errorf("broker: open %s/%d: %w", cfg.Name, p, err)
		}
		opts.Held = held
		l, err := commitlog.Open(b.partitionDir(cfg.Name, p), opts)
		if err != nil {
			for _, q := range parts {
				q.log.Close()
			}
			return nil, fmt.Errorf("broker: open %s/%d: %w", cfg.Name, p, err)
		}
		// A torn tail is normal after a crash, but it is data the operator
		// may have believed written: say so, once, with its size.
		if r := l.Recovery(); r.CutBytes > 0 || r.DeletedSegments > 0 {
			b.log.Warn("recovery cut a torn log tail", "topic", cfg.Name, "partition", p,
				"cut_bytes", r.CutBytes, "deleted_segments", r.DeletedSegments)
		}
		for _, r := range l.Corruption() {
			opts.OnCorrupt(r)
		}
		if held {
			l.RetainFrom(0) // until its state machine says from where (ReplicaLog)
		}
		parts = append(parts, &partition{id: p, log: l})
	}
	return parts, nil
}

func (b *Broker) partitionDir(topic string, p int32) string {
	return filepath.Join(b.topicsDir, topic, strconv.Itoa(int(p)))
}

// removeTopicFiles deletes a topic's directory, then its record in meta.db.
// The record is kept (marked deleted) until the files are gone, so an
// interrupted deletion is finished on the next start.
func (b *Broker) removeTopicFiles(name string) error {
	if err := os.RemoveAll(filepath.Join(b.topicsDir, name)); err != nil {
		return fmt.Errorf("broker: remove files of topic %q: %w", name, err)
	}
	return b.meta.remove(name)
}

// TopicsChanged returns a channel closed at the next topic change (create,
// delete, more partitions) or at Close. Take the channel, read Topics, then
// wait on it: no change can be missed.
func (b *Broker) TopicsChanged() <-chan struct{} {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.changed
}

// notifyLocked wakes the watchers of TopicsChanged. Callers hold mu.
func (b *Broker) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// lookup returns the current version of a topic.
func (b *Broker) lookup(name string) (*topic, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, api.ErrUnavailable.Withf("broker is shutting down")
	}
	t, ok := b.topics[name]
	if !ok {
		return nil, topicNotFound(name)
	}
	return t, nil
}

func topicNotFound(name string) error {
	return api.ErrTopicNotFound.Withf("topic %q does not exist", name).WithDetail("topic", name)
}

// partition returns partition p of t or a PARTITION_NOT_FOUND error.
func (t *topic) partition(p int32) (*partition, error) {
	if p < 0 || int(p) >= len(t.parts) {
		return nil, api.ErrPartitionNotFound.
			Withf("topic %q has partitions 0..%d; there is no partition %d", t.cfg.Name, len(t.parts)-1, p).
			WithDetail("topic", t.cfg.Name).WithDetail("partition", p).WithDetail("partitions", len(t.parts))
	}
	return t.parts[p], nil
}

// lookupPartition is a topic's partition by name and index.
// Errors: TOPIC_NOT_FOUND, PARTITION_NOT_FOUND.
func (b *Broker) lookupPartition(topicName string, partition int32) (*topic, *partition, error) {
	t, err := b.lookup(topicName)
	if err != nil {
		return nil, nil, err
	}
	p, err := t.partition(partition)
	if err != nil {
		return nil, nil, err
	}
	return t, p, nil
}

// logError turns a commitlog error into a wire error where it is the
// client's doing (a range, a topic deleted under it, a shutdown); anything
// else is returned wrapped, for the HTTP layer to log as a broker fault.
func (b *Broker) logError(err error, t *topic, p int32) error {
	var re *commitlog.RangeError
	switch {
	case errors.As(err, &re):
		held := fmt.Sprintf("holds offsets %d to %d", re.Earliest, re.HighWatermark-1)
		if re.Earliest == re.HighWatermark {
			held = "is empty"
		}
		return api.ErrOffsetOutOfRange.
			Withf("offset %d is out of range: partition %d of %q %s; valid offsets to fetch from are %d to %d (the high watermark)",
				re.Offset, p, t.cfg.Name, held, re.Earliest, re.HighWatermark).
			WithDetail("offset", re.Offset).WithDetail("earliest_offset", re.Earliest).
			WithDetail("high_watermark", re.HighWatermark)
	case errors.Is(err, commitlog.ErrClosed):
		b.mu.RLock()
		closed := b.closed
		b.mu.RUnlock()
		if closed {
			return api.ErrUnavailable.Withf("broker is shutting down")
		}
		return topicNotFound(t.cfg.Name)
	case errors.Is(err, commitlog.ErrBatchTooLarge):
		return api.ErrMessageTooLarge.Withf("batch is too large for the log: %v", err)
	case errors.Is(err, recordbatch.ErrBusy):
		// Reads of compressed batches share the budget the checks of
		// produced ones take: a full budget is load, not damage.
		return b.decompressBusy()
	}
	return b.storageError(fmt.Errorf("broker: %s/%d: %w", t.cfg.Name, p, err), fmt.Sprintf("partition %d of %q", p, t.cfg.Name))
}

// Run runs the flusher (fsync=interval), the retention loop, the check of
// the data directory, the verification of sealed segments (at once, then
// with retention) and the group coordinator's loops until ctx ends. It
// returns nil on cancellation.
func (b *Broker) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { periodic.Every(ctx, b.cfg.FsyncInterval, b.flush); return nil })
	g.Go(func() error { periodic.Every(ctx, b.cfg.RetentionCheckInterval, b.enforceRetention); return nil })
	g.Go(func() error { return b.coord.Run(ctx) })
	g.Go(func() error { return b.watchStorage(ctx) })
	g.Go(func() error {
		b.verifyLogs(ctx)
		periodic.Every(ctx, b.cfg.RetentionCheckInterval, func() { b.verifyLogs(ctx) })
		return nil
	})
	return g.Wait()
}

// snapshot returns the current topics sorted by name.
func (b *Broker) snapshot() []*topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]*topic, 0, len(b.topics))
	for _, t := range b.topics {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].cfg.Name < out[j].cfg.Name })
	return out
}

// flush syncs every partition of an fsync=interval topic written since the
// last flush. A log closed meanwhile (topic deleted) is skipped.
func (b *Broker) flush() {
	for _, t := range b.snapshot() {
		if t.cfg.Fsync != FsyncInterval {
			continue
		}
		for _, p := range t.parts {
			if !p.dirty.Swap(false) {
				continue
			}
			start := time.Now()
			err := p.log.Sync()
			b.latency.fsync.since(start)
			switch {
			case err == nil, errors.Is(err, commitlog.ErrClosed):
			case errors.Is(err, commitlog.ErrFailed):
				// Messages acknowledged since the last good fsync may not
				// be on disk, and the log refuses writes for good:
				// storageError fails the data directory (logged once, and
				// /readyz turns 503) instead of this loop logging the same
				// error every interval while /readyz said ready.
				b.storageError(err, fmt.Sprintf("fsync partition %d of %q", p.id, t.cfg.Name))
			default:
				p.dirty.Store(true)
				b.log.Error("fsync failed", "topic", t.cfg.Name, "partition", p.id, "err", err)
			}
		}
	}
}

func (b *Broker) enforceRetention() {
	for _, t := range b.snapshot() {
		for _, p := range t.parts {
			n, err := p.log.EnforceRetention()
			if err != nil && !errors.Is(err, commitlog.ErrClosed) {
				b.log.Error("retention failed", "topic", t.cfg.Name, "partition", p.id, "err", err)
			}
			if n > 0 {
				b.log.Info("retention deleted segments", "topic", t.cfg.Name, "partition", p.id, "segments", n)
			}
		}
	}
}

// Close syncs and closes every log and meta.db. Further calls fail with
// UNAVAILABLE; Close itself is idempotent.
func (b *Broker) Close() error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.changed)
	b.mu.Unlock()
	err := b.closeLogs()
	return errors.Join(err, b.coord.Close(), b.meta.close())
}

func (b *Broker) closeLogs() error {
	var errs []error
	for _, t := range b.topics {
		for _, p := range t.parts {
			if err := p.log.Close(); err != nil && !errors.Is(err, commitlog.ErrClosed) {
				errs = append(errs, fmt.Errorf("broker: close %s/%d: %w", t.cfg.Name, p.id, err))
			}
		}
	}
	return errors.Join(errs...)
}
