package broker

import "time"

// TopicSpec is a topic to create. Zero fields take the broker's defaults
// (Config); every value is checked against the broker's bounds.
type TopicSpec struct {
	Name            string
	Partitions      int32
	Retention       time.Duration // negative: forever; kept in whole hours, rounded up
	RetentionBytes  int64         // per partition; -1: unbounded
	SegmentBytes    int64         // roll a segment past this size
	SegmentAge      time.Duration // roll a segment older than this; at least MinSegmentMS
	MaxMessageBytes int32         // key + value + headers
	Fsync           string        // always, interval or never
}

// TopicChange is a change of a topic's settings; zero fields stay as they
// are. Partitions can only increase.
type TopicChange struct {
	Partitions      int32
	Retention       time.Duration // negative: forever; kept in whole hours, rounded up
	RetentionBytes  int64         // -1: unbounded
	MaxMessageBytes int32
}

// Frame is one partition's pre-encoded Kafka RecordBatch v2 to append.
type Frame struct {
	Partition int32
	Batch     []byte
}

// retentionHours is d as TopicConfig keeps it: whole hours rounded up,
// retentionForever for a negative d, 0 (the default) for 0.
func retentionHours(d time.Duration) int64 {
	switch {
	case d < 0:
		return retentionForever
	case d == 0:
		return 0
	}
	h := int64(d / time.Hour) // rounded up below, without overflowing near the largest duration
	if d%time.Hour != 0 {
		h++
	}
	return h
}

// retention is hours as a TopicSpec says it.
func retention(hours int64) time.Duration {
	if hours < 0 {
		return -1
	}
	return time.Duration(hours) * time.Hour
}

// spec is t as the creation that would make it again.
func (t *TopicConfig) spec() TopicSpec {
	return TopicSpec{Name: t.Name, Partitions: t.Partitions, Retention: retention(t.RetentionHours),
		RetentionBytes: t.RetentionBytes, SegmentBytes: t.SegmentBytes,
		SegmentAge: time.Duration(t.SegmentMS) * time.Millisecond, MaxMessageBytes: t.MaxMessageBytes, Fsync: t.Fsync}
}
