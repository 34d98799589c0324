package api

// DLQSuffix names a topic's dead letter queue: orders → orders.dlq.
const DLQSuffix = ".dlq"

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
	DLQHeaderLastError         = DLQHeaderPrefix + "last-error" // the nack's reason, or visibility_timeout
)
