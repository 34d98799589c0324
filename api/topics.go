package api

import "encoding/json"

// CreateTopicRequest is the body of POST /topics. Zero values take the
// broker's defaults.
type CreateTopicRequest struct {
	Name            string `json:"name"`
	Partitions      int32  `json:"partitions"`
	RetentionHours  int64  `json:"retention_hours,omitempty"`   // 0: broker default; -1: keep forever
	RetentionBytes  int64  `json:"retention_bytes,omitempty"`   // per partition; 0: broker default; -1: unbounded
	SegmentBytes    int64  `json:"segment_bytes,omitempty"`     // roll a segment past this size
	SegmentMS       int64  `json:"segment_ms,omitempty"`        // roll a segment older than this by the broker's clock; at least 60000
	MaxMessageBytes int32  `json:"max_message_bytes,omitempty"` // default 1 MiB
	Fsync           string `json:"fsync,omitempty"`             // "always", "interval" or "never"; "" = broker default
	// ReplicationFactor is how many nodes of a cluster hold each
	// partition (a Raft group over them). 0: 3 in a cluster of 3 or more
	// nodes, else 1. More than the cluster's nodes is INVALID_ARGUMENT;
	// a single broker takes only 0 or 1.
	ReplicationFactor int32 `json:"replication_factor,omitempty"`
}

// Topic describes a topic: its settings and, per partition, the range of
// offsets it holds.
type Topic struct {
	Name            string          `json:"name"`
	Partitions      int32           `json:"partitions"`
	RetentionHours  int64           `json:"retention_hours"`
	RetentionBytes  int64           `json:"retention_bytes"`
	SegmentBytes    int64           `json:"segment_bytes"`
	SegmentMS       int64           `json:"segment_ms"`
	MaxMessageBytes int32           `json:"max_message_bytes"`
	Fsync           string          `json:"fsync"`
	CreatedAt       int64           `json:"created_at"` // ms since the Unix epoch
	PartitionInfo   []PartitionInfo `json:"partition_info,omitempty"`
}

// PartitionInfo is one partition of a topic. HighWatermark is the offset the
// next message will get; the partition holds [EarliestOffset, HighWatermark).
type PartitionInfo struct {
	Partition      int32 `json:"partition"`
	EarliestOffset int64 `json:"earliest_offset"`
	HighWatermark  int64 `json:"high_watermark"`
	Bytes          int64 `json:"bytes"`
	Segments       int   `json:"segments"`
	// CorruptRanges and CorruptOffsets count damaged data found in the
	// partition's log: skipped, its offsets read as absent (see the README's
	// "Damaged data"). Omitted when zero.
	CorruptRanges  int   `json:"corrupt_ranges,omitempty"`
	CorruptOffsets int64 `json:"corrupt_offsets,omitempty"`
	// Leader and Replicas: in a cluster, the node that takes the
	// partition's reads and writes and the nodes holding it (node IDs);
	// omitted on a single broker.
	Leader   uint64   `json:"leader,omitempty"`
	Replicas []uint64 `json:"replicas,omitempty"`
	// LeaderAddr is the HTTP address Leader registered, as a NOT_LEADER
	// answer's leader_addr: clients go there without asking GET /cluster,
	// whose consistent read waits while the metadata elects a leader.
	// Omitted on a single broker and while unknown.
	LeaderAddr string `json:"leader_addr,omitempty"`
	// LeaderEpoch is the Raft term of the partition's group in which
	// Leader leads; omitted on a single broker and while unknown.
	LeaderEpoch uint64 `json:"leader_epoch,omitempty"`
	// ISR are the replicas in sync with the leader (see ClusterPartition);
	// omitted on a single broker and while unknown.
	ISR []uint64 `json:"isr,omitempty"`
	// Lost and LostReplicas: the partition can never have a leader again
	// (see ClusterPartition); omitted otherwise.
	Lost         bool     `json:"lost,omitempty"`
	LostReplicas []uint64 `json:"lost_replicas,omitempty"`
}

// TopicList is the answer of GET /topics.
type TopicList struct {
	Topics []Topic `json:"topics"`
}

// AddPartitionsRequest is the body of POST /topics/{topic}/partitions: the
// new total count, which must be larger than the current one.
type AddPartitionsRequest struct {
	Count int32 `json:"count"`
}

// PublishMessage is one message to publish.
//
// Value carries text or JSON: a JSON string is stored as its text, any other
// JSON value (object, array, number, true/false) is stored as its JSON text
// and read back as the same JSON. ValueBase64 carries binary values instead.
// The same holds for Key (a string) and KeyBase64. Headers carries text
// headers as an object; HeaderList (not both) carries any headers exactly,
// in order: repeated keys, bytes, null values. Partition, if set, picks the
// partition; otherwise a key is hashed with Kafka's murmur2 partitioner and
// keyless messages are spread. Timestamp is in ms since the Unix epoch; 0
// takes the broker's clock.
type PublishMessage struct {
	Key         *string           `json:"key,omitempty"`
	KeyBase64   []byte            `json:"key_base64,omitempty"`
	Value       json.RawMessage   `json:"value,omitempty"`
	ValueBase64 []byte            `json:"value_base64,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	HeaderList  []Header          `json:"header_list,omitempty"`
	Partition   *int32            `json:"partition,omitempty"`
	Timestamp   int64             `json:"timestamp,omitempty"`
}

// Header is one message header of a HeaderList, the exact form of a
// message's headers: its key as text (Key) or, when not valid UTF-8, as
// bytes (KeyBase64); its value likewise (Value or ValueBase64), and
// neither for a null value (a Kafka producer may send one).
type Header struct {
	Key         *string `json:"key,omitempty"`
	KeyBase64   []byte  `json:"key_base64,omitempty"`
	Value       *string `json:"value,omitempty"`
	ValueBase64 []byte  `json:"value_base64,omitempty"`
}

// PublishRequest is the body of POST /topics/{topic}/messages: either one
// message (the embedded fields) or a batch in Messages, never both. A batch
// is all or nothing: if any message is invalid, none is written and the
// error's details name the index of the first bad one.
type PublishRequest struct {
	PublishMessage
	Messages []PublishMessage `json:"messages,omitempty"`
}

// PublishResponse gives, in request order, where each message was written.
type PublishResponse struct {
	Topic   string          `json:"topic"`
	Offsets []PublishResult `json:"offsets"`
}

// PublishResult is where one published message landed.
type PublishResult struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

// Message is a stored message as fetched or polled. Key and Value follow the
// rules of PublishMessage: text comes back as a JSON string, JSON as the same
// JSON, and bytes that are not valid UTF-8 come back in KeyBase64/ValueBase64.
// Headers likewise: in Headers when they are text with distinct keys and no
// null value, which the object says exactly; otherwise all of them in
// HeaderList, in their stored order. Exactly one of the two is set when
// the message has headers.
// DeliveryCount is set by group polls only: it counts every delivery of the
// message to the group, 1 on the first, one more on each redelivery, after a
// failure (nack, visibility timeout) or a handoff (its partition moved or
// its holder gave it back). max_retries counts failures only, so handoffs
// never bring a message closer to the DLQ.
type Message struct {
	Topic         string            `json:"topic"`
	Partition     int32             `json:"partition"`
	Offset        int64             `json:"offset"`
	Key           *string           `json:"key,omitempty"`
	KeyBase64     []byte            `json:"key_base64,omitempty"`
	Value         json.RawMessage   `json:"value,omitempty"`
	ValueBase64   []byte            `json:"value_base64,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	HeaderList    []Header          `json:"header_list,omitempty"`
	Timestamp     int64             `json:"timestamp"`
	DeliveryCount int               `json:"delivery_count,omitempty"`
}

// FetchResponse is the answer of GET /topics/{topic}/partitions/{p}/messages.
// NextOffset is the offset to ask for next.
type FetchResponse struct {
	Topic          string    `json:"topic"`
	Partition      int32     `json:"partition"`
	Messages       []Message `json:"messages"`
	NextOffset     int64     `json:"next_offset"`
	EarliestOffset int64     `json:"earliest_offset"`
	HighWatermark  int64     `json:"high_watermark"`
}
