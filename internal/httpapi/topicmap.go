package httpapi

import (
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// The topic resource's wire mapping: create and alter bodies are checked
// field by field here, with errors that name the JSON field, then become
// the broker's TopicSpec and TopicChange (hours and milliseconds become
// durations). The broker checks the values again against its defaults and
// bounds, for every front end.

// retentionField checks retention_hours: -1 (forever), 0 (default) or up to
// broker.MaxRetentionHours.
func retentionField(hours int64) (time.Duration, error) {
	if hours < -1 || hours > broker.MaxRetentionHours {
		return 0, invalidField("retention_hours", "retention_hours %d must be -1 (forever), 0 (default) or at most %d", hours, broker.MaxRetentionHours)
	}
	if hours < 0 {
		return -1, nil
	}
	return time.Duration(hours) * time.Hour, nil
}

func checkRetentionBytes(n int64) error {
	if n < -1 {
		return invalidField("retention_bytes", "retention_bytes %d must be positive, 0 (default) or -1 (unbounded)", n)
	}
	return nil
}

func checkMaxMessageBytes(n int32) error {
	if n != 0 && (n < 1 || n > broker.MaxMessageLimit) {
		return invalidField("max_message_bytes", "max_message_bytes %d must be between 1 and %d", n, broker.MaxMessageLimit)
	}
	return nil
}

// TopicSpec checks a create body.
func TopicSpec(req api.CreateTopicRequest) (broker.TopicSpec, error) {
	if err := broker.ValidateTopicName(req.Name); err != nil {
		return broker.TopicSpec{}, err
	}
	retention, err := retentionField(req.RetentionHours)
	if err != nil {
		return broker.TopicSpec{}, err
	}
	if err := checkRetentionBytes(req.RetentionBytes); err != nil {
		return broker.TopicSpec{}, err
	}
	if s := req.SegmentBytes; s != 0 && (s < broker.MinSegmentBytes || s > broker.MaxSegmentBytes) {
		return broker.TopicSpec{}, invalidField("segment_bytes", "segment_bytes %d must be between %d and %d", s, broker.MinSegmentBytes, broker.MaxSegmentBytes)
	}
	if ms := req.SegmentMS; ms != 0 && (ms < broker.MinSegmentMS || ms > broker.MaxSegmentMS) {
		return broker.TopicSpec{}, invalidField("segment_ms", "segment_ms %d must be 0 (default) or between %d and %d", ms, broker.MinSegmentMS, int64(broker.MaxSegmentMS)).
			WithDetail("min", broker.MinSegmentMS).WithDetail("max", int64(broker.MaxSegmentMS))
	}
	if err := checkMaxMessageBytes(req.MaxMessageBytes); err != nil {
		return broker.TopicSpec{}, err
	}
	switch req.Fsync {
	case "", broker.FsyncAlways, broker.FsyncInterval, broker.FsyncNever:
	default:
		return broker.TopicSpec{}, invalidField("fsync", "fsync %q must be %s, %s or %s (or left out: the broker's default)",
			req.Fsync, broker.FsyncAlways, broker.FsyncInterval, broker.FsyncNever)
	}
	return broker.TopicSpec{
		Name: req.Name, Partitions: req.Partitions, Retention: retention, RetentionBytes: req.RetentionBytes,
		SegmentBytes: req.SegmentBytes, SegmentAge: time.Duration(req.SegmentMS) * time.Millisecond,
		MaxMessageBytes: req.MaxMessageBytes, Fsync: req.Fsync,
	}, nil
}

// withBrokerDefaults is req with each setting it sets back to the broker's
// default (null) at that default's value now: a topic keeps its settings'
// values, as one created without them does, and every node of a cluster
// takes the same.
func withBrokerDefaults(req api.AlterTopicRequest, def broker.Config) api.AlterTopicRequest {
	if req.Default.RetentionHours {
		req.RetentionHours = def.RetentionHours
	}
	if req.Default.RetentionBytes {
		req.RetentionBytes = def.RetentionBytes
	}
	if req.Default.MaxMessageBytes {
		req.MaxMessageBytes = def.MaxMessageBytes
	}
	req.Default = api.TopicDefaults{}
	return req
}

// topicChange checks an alter body.
func topicChange(req api.AlterTopicRequest) (broker.TopicChange, error) {
	if req == (api.AlterTopicRequest{}) {
		return broker.TopicChange{}, api.ErrInvalidArgument.Withf("nothing to change: name partitions, retention_hours, retention_bytes or max_message_bytes (null: the broker's default)")
	}
	retention, err := retentionField(req.RetentionHours)
	if err != nil {
		return broker.TopicChange{}, err
	}
	if err := checkRetentionBytes(req.RetentionBytes); err != nil {
		return broker.TopicChange{}, err
	}
	if err := checkMaxMessageBytes(req.MaxMessageBytes); err != nil {
		return broker.TopicChange{}, err
	}
	return broker.TopicChange{Partitions: req.Partitions, Retention: retention,
		RetentionBytes: req.RetentionBytes, MaxMessageBytes: req.MaxMessageBytes}, nil
}
