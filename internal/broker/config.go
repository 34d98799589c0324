package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/coordinator"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/group"
	"github.com/abd-ulbasit/goqueue/internal/history"
)

// Fsync policy names, as in the --fsync flag and a topic's "fsync" setting.
const (
	FsyncAlways   = "always"
	FsyncInterval = "interval"
	FsyncNever    = "never"
)

// Limits that bound what a configuration or a topic may ask for.
const (
	MinSegmentBytes = 4 << 10 // smaller segments only multiply files
	// MinSegmentMS is the shortest segment_ms (and --segment-age) besides 0
	// (by size only): segment_ms 1 rolled a segment per append.
	MinSegmentMS    = 60_000
	MaxSegmentBytes = 1 << 30  // offsets inside a segment stay 32-bit
	MaxMessageLimit = 64 << 20 // the largest max_message_bytes a topic may set
	// DefaultMaxDecompressBytes is Config.MaxDecompressBytes's default:
	// the most record data the log lets one compressed batch hold, so any
	// batch it takes can be checked alone.
	DefaultMaxDecompressBytes = 128 << 20
	maxBatchBytes             = 4 << 20  // a publish is split into batches of about this size
	hardMaxBatch              = 80 << 20 // commitlog's MaxBatchBytes: one message of MaxMessageLimit plus framing
	retentionForever          = -1
	// MaxRetentionHours and MaxSegmentMS (100 years) keep durations far
	// from overflowing time.Duration.
	MaxRetentionHours = 100 * 365 * 24
	MaxSegmentMS      = MaxRetentionHours * 3600 * 1000
)

// Config is everything the broker needs to open. Zero values are invalid
// except where noted; start from DefaultConfig.
type Config struct {
	DataDir string // holds meta.db and topics/; created if missing

	Fsync         string        // default policy for topics: always, interval or never
	FsyncInterval time.Duration // how often the flusher syncs dirty logs under "interval"

	DefaultPartitions int32 // for a topic created with partitions 0
	MaxPartitions     int32 // the most partitions one topic may have

	RetentionHours int64 // default per topic; -1 keeps forever
	RetentionBytes int64 // default per partition; -1 is unbounded
	SegmentBytes   int64
	SegmentAge     time.Duration // roll the active segment past this age; 0 never
	// MaxOpenSegments bounds the sealed segment files kept open while no read
	// uses them, across all partitions (commitlog.FileCache). Active
	// segments are always open: one file per partition.
	MaxOpenSegments int

	MaxMessageBytes int32 // default per topic: key + value + headers of one message

	// MaxDecompressBytes bounds the decompressed record data held at once
	// over every check of a compressed batch and every read that decodes
	// one (fetches, group polls, DLQ moves and replays; 0:
	// DefaultMaxDecompressBytes). A check or read is charged as its output
	// grows; one the budget has no room for is refused with
	// TOO_MANY_REQUESTS (retriable), not queued.
	MaxDecompressBytes int64

	// TimestampBeforeMax and TimestampAfterMax bound how far a message's
	// timestamp may lie before or after the broker's clock (Kafka's
	// message.timestamp.{before,after}.max.ms); 0 is no bound. See
	// timeBounds.
	TimestampBeforeMax time.Duration
	TimestampAfterMax  time.Duration

	RetentionCheckInterval time.Duration // how often retention runs

	// OffsetsRetention is how long a consumer group may stay empty (no
	// members, no commit, reset or join) before it is deleted with its
	// committed offsets, as Kafka's offsets.retention.minutes (KIP-211);
	// 0 keeps them for ever. See coordinator.Config.OffsetsRetention.
	OffsetsRetention time.Duration

	Groups   group.Config    // consumer-group bounds and defaults; zero fields take group's defaults
	Delivery delivery.Config // per-message delivery defaults; zero fields take delivery's defaults
	History  history.Config  // lag sampling and retention; zero fields take history's defaults
	Limits   Limits          // bounds on topics, groups and members; zero fields take DefaultLimits

	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now; tests inject a clock
}

// DefaultConfig is the embedded default: data under ./data, fsync every
// 100 ms, 3 partitions, a week of retention, 64 MiB segments, 1 MiB messages.
func DefaultConfig() Config {
	return Config{
		DataDir:                "./data",
		Fsync:                  FsyncInterval,
		FsyncInterval:          100 * time.Millisecond,
		DefaultPartitions:      3,
		MaxPartitions:          1024,
		RetentionHours:         168,
		RetentionBytes:         -1,
		SegmentBytes:           64 << 20,
		SegmentAge:             24 * time.Hour,
		MaxOpenSegments:        1024,
		MaxMessageBytes:        1 << 20,
		TimestampAfterMax:      time.Hour,
		RetentionCheckInterval: 5 * time.Minute,
		OffsetsRetention:       coordinator.DefaultOffsetsRetention,
	}
}

// Validate reports every problem of c at once, joined with errors.Join, so an
// operator fixes a configuration in one go.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.DataDir == "" {
		bad("data dir must not be empty")
	}
	if _, err := parseFsync(c.Fsync); err != nil {
		errs = append(errs, err)
	}
	if c.FsyncInterval <= 0 {
		bad("fsync interval %v must be positive", c.FsyncInterval)
	}
	if c.MaxPartitions < 1 {
		bad("max partitions %d must be at least 1", c.MaxPartitions)
	}
	if c.DefaultPartitions < 1 || (c.MaxPartitions >= 1 && c.DefaultPartitions > c.MaxPartitions) {
		bad("default partitions %d must be between 1 and max partitions %d", c.DefaultPartitions, c.MaxPartitions)
	}
	if c.RetentionHours < -1 || c.RetentionHours == 0 || c.RetentionHours > MaxRetentionHours {
		bad("retention hours %d must be -1 (forever) or between 1 and %d", c.RetentionHours, MaxRetentionHours)
	}
	if c.RetentionBytes < -1 || c.RetentionBytes == 0 {
		bad("retention bytes %d must be positive or -1 (unbounded)", c.RetentionBytes)
	}
	if c.SegmentBytes < MinSegmentBytes || c.SegmentBytes > MaxSegmentBytes {
		bad("segment bytes %d must be between %d and %d", c.SegmentBytes, MinSegmentBytes, MaxSegmentBytes)
	}
	if c.SegmentAge != 0 && (c.SegmentAge.Milliseconds() < MinSegmentMS || c.SegmentAge.Milliseconds() > MaxSegmentMS) {
		bad("segment age %v must be 0 (by size only) or between 1m and 100 years", c.SegmentAge)
	}
	if c.MaxOpenSegments < 1 {
		bad("max open segments %d must be at least 1", c.MaxOpenSegments)
	}
	if c.MaxMessageBytes < 1 || c.MaxMessageBytes > MaxMessageLimit {
		bad("max message bytes %d must be between 1 and %d", c.MaxMessageBytes, MaxMessageLimit)
	}
	if c.MaxDecompressBytes < 0 {
		bad("max decompress bytes %d must not be negative", c.MaxDecompressBytes)
	}
	if c.TimestampBeforeMax < 0 || c.TimestampAfterMax < 0 {
		bad("timestamp bounds %v (before) and %v (after) must not be negative", c.TimestampBeforeMax, c.TimestampAfterMax)
	}
	if c.RetentionCheckInterval <= 0 {
		bad("retention check interval %v must be positive", c.RetentionCheckInterval)
	}
	if c.OffsetsRetention < 0 {
		bad("offsets retention %v must be 0 (for ever) or positive", c.OffsetsRetention)
	}
	if err := c.Groups.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.History.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func parseFsync(s string) (commitlog.FsyncPolicy, error) {
	switch s {
	case FsyncAlways:
		return commitlog.FsyncAlways, nil
	case FsyncInterval:
		return commitlog.FsyncInterval, nil
	case FsyncNever:
		return commitlog.FsyncNever, nil
	}
	return 0, fmt.Errorf("fsync %q must be always, interval or never", s)
}
