package api

import (
	"crypto/sha256"
	"encoding/hex"
	"unicode/utf8"
)

// DLQSuffix names a topic's dead letter queue: orders → orders.dlq.
const DLQSuffix = ".dlq"

// maxTopicName is the longest topic name (the broker's ValidateTopicName).
const maxTopicName = 249

// dlqHashLen is how many hex digits of SHA-256 tell apart the DLQs of long
// topic names that share a prefix.
const dlqHashLen = 16

// DLQName returns the name of topic's dead letter queue: topic + DLQSuffix
// when that fits in 249 characters (topics of up to 245); otherwise, so
// that every legal topic has a DLQ, the first 228 characters of topic, "-",
// the first 16 hex digits of the SHA-256 of the whole name, and DLQSuffix:
// exactly 249 characters, deterministic, and distinct for distinct topics
// short of a hash collision. Every caller (broker, CLI) names DLQs with it.
func DLQName(topic string) string {
	if len(topic)+len(DLQSuffix) <= maxTopicName {
		return topic + DLQSuffix
	}
	sum := sha256.Sum256([]byte(topic))
	prefix := maxTopicName - len(DLQSuffix) - 1 - dlqHashLen
	return topic[:prefix] + "-" + hex.EncodeToString(sum[:])[:dlqHashLen] + DLQSuffix
}

// DLQMaxReasonBytes bounds the free-text headers of a dead letter
// (DLQHeaderLastError, from the nack's reason): longer text is cut to its
// first DLQMaxReasonBytes bytes, at a UTF-8 character boundary, so a dead
// letter always fits its DLQ.
const DLQMaxReasonBytes = 1024

// CutReason is s cut to its first DLQMaxReasonBytes bytes at a UTF-8
// character boundary: what a dead letter keeps of a reason.
func CutReason(s string) string {
	if len(s) <= DLQMaxReasonBytes {
		return s
	}
	n := DLQMaxReasonBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Reasons a message is dead-lettered (DLQHeaderReason), which a replay's
// Reason filter names.
const (
	DLQReasonRejected   = "rejected"             // nacked with requeue false
	DLQReasonMaxRetries = "max_retries_exceeded" // its delivery MaxRetries+1 failed
)

// Headers a dead letter gains in its DLQ, beside its own key, value, headers
// and timestamp. Replay drops every header with DLQHeaderPrefix.
const (
	DLQHeaderPrefix            = "goqueue-dlq-"
	DLQHeaderReason            = DLQHeaderPrefix + "reason" // rejected, max_retries_exceeded
	DLQHeaderOriginalTopic     = DLQHeaderPrefix + "original-topic"
	DLQHeaderOriginalPartition = DLQHeaderPrefix + "original-partition"
	DLQHeaderOriginalOffset    = DLQHeaderPrefix + "original-offset"
	DLQHeaderOriginalTimestamp = DLQHeaderPrefix + "original-timestamp" // ms since the Unix epoch
	DLQHeaderGroup             = DLQHeaderPrefix + "group"
	DLQHeaderDeliveryCount     = DLQHeaderPrefix + "delivery-count"
	DLQHeaderLastError         = DLQHeaderPrefix + "last-error" // the nack's reason (at most DLQMaxReasonBytes), or visibility_timeout
	DLQHeaderDiedAt            = DLQHeaderPrefix + "died-at"    // ms since the Unix epoch
)

// Headers a replayed message carries back into its topic. They are not
// dropped by a replay (they have not DLQHeaderPrefix): a replayed message
// that dies again keeps its count into the DLQ, so a poison message stops
// being replayed after DLQReplayRequest.MaxReplays rounds.
const (
	// ReplayHeaderGroup names the only group a replayed message is for:
	// every other group's polls settle it without delivering it.
	ReplayHeaderGroup = "goqueue-replay-group"
	// ReplayHeaderCount counts the replays of a message, from 1.
	ReplayHeaderCount = "goqueue-replay-count"
)

// DefaultMaxReplays is how many times a dead letter may be replayed when a
// replay request names no max_replays.
const DefaultMaxReplays = 3

// DLQReplayRequest is the body of POST /topics/{topic}/dlq/replay, where
// {topic} is the original topic (orders, not orders.dlq). It publishes dead
// messages of <topic>.dlq again without their disposition headers, going
// through the DLQ partitions offset by offset from Offset: by default back
// to their original topic and partition for the group that dead-lettered
// them only (ReplayHeaderGroup); with ToTopic for every group of the topic;
// with Target to another topic. Each dead letter is replayed once: the
// broker remembers what it replayed (Again replays it anyway), and one
// replayed MaxReplays times already is left in the DLQ and counted in
// Poison. Group, Reason, Since, Until, Partition and EndOffset choose which
// dead letters. It stops after the last DLQ offset at which it could replay
// every partition without passing Max messages, so NextOffset is exact.
// DryRun changes nothing and lists what would be replayed.
type DLQReplayRequest struct {
	Target     string `json:"target,omitempty"`
	ToTopic    bool   `json:"to_topic,omitempty"`
	Offset     int64  `json:"offset,omitempty"`      // first DLQ offset, in every DLQ partition
	EndOffset  int64  `json:"end_offset,omitempty"`  // 0: none; else stop before this DLQ offset
	Partition  *int32 `json:"partition,omitempty"`   // only this DLQ partition
	Max        int    `json:"max,omitempty"`         // default 1000
	Group      string `json:"group,omitempty"`       // only dead letters of this group
	Reason     string `json:"reason,omitempty"`      // only this reason: rejected, max_retries_exceeded
	Since      int64  `json:"since,omitempty"`       // only those that died at or after (ms since the epoch)
	Until      int64  `json:"until,omitempty"`       // only those that died before (ms since the epoch)
	Again      bool   `json:"again,omitempty"`       // also those replayed before
	MaxReplays int    `json:"max_replays,omitempty"` // default DefaultMaxReplays
	DryRun     bool   `json:"dry_run,omitempty"`
}

// DeadLetter is one message of a DLQ as a replay names it.
type DeadLetter struct {
	Partition         int32  `json:"partition"` // in the DLQ
	Offset            int64  `json:"offset"`    // in the DLQ
	OriginalTopic     string `json:"original_topic"`
	OriginalPartition int32  `json:"original_partition"`
	OriginalOffset    int64  `json:"original_offset"`
	Group             string `json:"group"`
	Reason            string `json:"reason"`
	DiedAt            int64  `json:"died_at,omitempty"` // ms since the epoch; 0: unknown
	Replays           int    `json:"replays"`           // before this one
}

// DLQReplayResponse reports a replay (with DryRun: what it would do).
// NextOffset is the DLQ offset to continue from (every partition is done
// below it). Skipped counts dead letters passed over because they were
// replayed before; Poison those left for having been replayed MaxReplays
// times. Messages lists the dead letters replayed (or that would be).
type DLQReplayResponse struct {
	Replayed   int          `json:"replayed"`
	NextOffset int64        `json:"next_offset"`
	DryRun     bool         `json:"dry_run,omitempty"`
	Skipped    int          `json:"skipped"`
	Poison     int          `json:"poison"`
	Messages   []DeadLetter `json:"messages"`
}
