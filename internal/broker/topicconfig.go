package broker

import (
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// TopicConfig is a topic's settings as stored in meta.db. Every field is
// resolved: no zero means "default" once a topic exists.
type TopicConfig struct {
	Name            string `json:"name"`
	Partitions      int32  `json:"partitions"`
	RetentionHours  int64  `json:"retention_hours"` // -1: forever
	RetentionBytes  int64  `json:"retention_bytes"` // per partition; -1: unbounded
	SegmentBytes    int64  `json:"segment_bytes"`
	SegmentMS       int64  `json:"segment_ms"` // 0: segments roll by size only
	MaxMessageBytes int32  `json:"max_message_bytes"`
	Fsync           string `json:"fsync"`
	CreatedAt       int64  `json:"created_at"` // ms since the Unix epoch
	// Deleted marks a topic whose deletion began; its files are removed and
	// its record dropped on the next start if the broker stopped midway.
	Deleted bool `json:"deleted,omitempty"`
}

// resolveTopic fills the zero fields of spec from the broker's defaults and
// checks every value, returning the first problem as a coded error.
func (c *Config) resolveTopic(spec TopicSpec, now time.Time) (TopicConfig, error) {
	if err := ValidateTopicName(spec.Name); err != nil {
		return TopicConfig{}, err
	}
	t := TopicConfig{
		Name:            spec.Name,
		Partitions:      spec.Partitions,
		RetentionHours:  retentionHours(spec.Retention),
		RetentionBytes:  spec.RetentionBytes,
		SegmentBytes:    spec.SegmentBytes,
		SegmentMS:       spec.SegmentAge.Milliseconds(),
		MaxMessageBytes: spec.MaxMessageBytes,
		Fsync:           spec.Fsync,
		CreatedAt:       now.UnixMilli(),
	}
	if t.Partitions == 0 {
		t.Partitions = c.DefaultPartitions
	}
	if t.Partitions < 1 || t.Partitions > c.MaxPartitions {
		return TopicConfig{}, api.ErrInvalidPartitions.
			Withf("partitions %d must be between 1 and %d", t.Partitions, c.MaxPartitions).
			WithDetail("max", c.MaxPartitions)
	}
	if t.RetentionHours == 0 {
		t.RetentionHours = c.RetentionHours
	}
	if t.RetentionHours > MaxRetentionHours {
		return TopicConfig{}, invalid("retention %v is above the longest, %dh; a negative retention keeps messages forever", spec.Retention, MaxRetentionHours)
	}
	if t.RetentionBytes == 0 {
		t.RetentionBytes = c.RetentionBytes
	}
	if t.RetentionBytes < retentionForever {
		return TopicConfig{}, invalid("retention bytes %d must be positive, 0 (default) or -1 (unbounded)", t.RetentionBytes)
	}
	if t.SegmentBytes == 0 {
		t.SegmentBytes = c.SegmentBytes
	}
	if t.SegmentBytes < MinSegmentBytes || t.SegmentBytes > MaxSegmentBytes {
		return TopicConfig{}, invalid("segment size %d bytes must be between %d and %d", t.SegmentBytes, MinSegmentBytes, MaxSegmentBytes)
	}
	if t.SegmentMS == 0 {
		t.SegmentMS = c.SegmentAge.Milliseconds()
	}
	if t.SegmentMS != 0 && (t.SegmentMS < MinSegmentMS || t.SegmentMS > MaxSegmentMS) {
		return TopicConfig{}, invalid("segment age %v must be 0 (default) or between %v and %v", spec.SegmentAge,
			time.Duration(MinSegmentMS)*time.Millisecond, time.Duration(MaxSegmentMS)*time.Millisecond)
	}
	if t.MaxMessageBytes == 0 {
		t.MaxMessageBytes = c.MaxMessageBytes
	}
	if t.MaxMessageBytes < 1 || t.MaxMessageBytes > MaxMessageLimit {
		return TopicConfig{}, invalid("max message size %d bytes must be between 1 and %d", t.MaxMessageBytes, MaxMessageLimit)
	}
	if t.Fsync == "" {
		t.Fsync = c.Fsync
	}
	if _, err := parseFsync(t.Fsync); err != nil {
		return TopicConfig{}, invalid("fsync policy %q must be always, interval or never", t.Fsync)
	}
	return t, nil
}

// invalid is an INVALID_ARGUMENT about a topic setting.
func invalid(format string, args ...any) *api.Error {
	return api.ErrInvalidArgument.Withf(format, args...)
}

// logOptions are the commitlog options of one partition of t.
func (t *TopicConfig) logOptions(now func() time.Time) commitlog.Options {
	policy, _ := parseFsync(t.Fsync) // validated when the topic was created
	o := commitlog.Options{
		SegmentBytes:  t.SegmentBytes,
		SegmentAge:    time.Duration(t.SegmentMS) * time.Millisecond,
		Fsync:         policy,
		MaxBatchBytes: hardMaxBatch,
		Now:           now,
	}
	if t.RetentionBytes > 0 {
		o.RetentionBytes = t.RetentionBytes
	}
	if t.RetentionHours > 0 {
		o.RetentionAge = time.Duration(t.RetentionHours) * time.Hour
	}
	return o
}
