package api

import (
	"crypto/sha256"
	"encoding/hex"
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
)
