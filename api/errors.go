// Package api holds GoQueue's public wire types and its one table of error
// codes. It is shared by the broker's HTTP layer, the Go client and the CLI,
// and imports only the standard library.
package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is the body of every failed response:
//
//	{"error":{"code":"TOPIC_NOT_FOUND","message":"...","details":{...},"retriable":false}}
//
// Code is stable and meant for programs; Message is for people. Status and
// Kafka are how each front end says the code: the HTTP status it is always
// sent with, and the Kafka protocol error code a Kafka client gets for it.
type Error struct {
	Code      string         `json:"code"`
	Message   string         `json:"message"`
	Details   map[string]any `json:"details,omitempty"`
	Retriable bool           `json:"retriable"`
	Status    int            `json:"-"`
	Kafka     int16          `json:"-"`
}

// ErrorBody is the envelope an Error travels in.
type ErrorBody struct {
	Error *Error `json:"error"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, api.ErrTopicNotFound) works on any error made from the table
// with With or Withf.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// Withf returns a copy of e with a message; e itself is never modified.
func (e *Error) Withf(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	c.Details = nil
	return &c
}

// WithDetail returns a copy of e with one more detail.
func (e *Error) WithDetail(key string, value any) *Error {
	c := *e
	c.Details = make(map[string]any, len(e.Details)+1)
	for k, v := range e.Details {
		c.Details[k] = v
	}
	c.Details[key] = value
	return &c
}

// The table of wire errors. Every failure the broker reports is one of these,
// usually with a message and details added through Withf and WithDetail.
// Retriable means the same request may succeed later without change (after a
// heartbeat for STALE_GENERATION); a client must not retry the others blindly.
var (
	// Malformed or invalid requests (400).
	ErrBadRequest        = &Error{Code: "BAD_REQUEST", Status: http.StatusBadRequest, Kafka: kafkaCorruptMessage}            // unparsable body or query
	ErrInvalidArgument   = &Error{Code: "INVALID_ARGUMENT", Status: http.StatusBadRequest, Kafka: kafkaInvalidConfig}        // a field has a bad value
	ErrInvalidTopicName  = &Error{Code: "INVALID_TOPIC_NAME", Status: http.StatusBadRequest, Kafka: kafkaInvalidTopic}       // not 1–249 of [a-zA-Z0-9._-], or "." / "..", or a new topic named as a Kafka internal topic
	ErrInvalidPartitions = &Error{Code: "INVALID_PARTITIONS", Status: http.StatusBadRequest, Kafka: kafkaInvalidPartitions}  // partition count out of bounds or a decrease
	ErrOffsetOutOfRange  = &Error{Code: "OFFSET_OUT_OF_RANGE", Status: http.StatusBadRequest, Kafka: kafkaOffsetOutOfRange}  // details: earliest_offset, high_watermark
	ErrInvalidAssignor   = &Error{Code: "INVALID_ASSIGNOR", Status: http.StatusBadRequest, Kafka: kafkaUnsupportedAssignor}  // not range, roundrobin, sticky or cooperative-sticky
	ErrInvalidTimeout    = &Error{Code: "INVALID_TIMEOUT", Status: http.StatusBadRequest, Kafka: kafkaInvalidSessionTimeout} // outside the broker's bounds; details: min, max
	// ErrInvalidTimestamp is INVALID_ARGUMENT for a record whose timestamp
	// is outside the broker's window (--timestamp-after-max,
	// --timestamp-before-max): the same code over HTTP; INVALID_TIMESTAMP
	// to a Kafka client, as Kafka refuses such a record.
	ErrInvalidTimestamp = &Error{Code: "INVALID_ARGUMENT", Status: http.StatusBadRequest, Kafka: kafkaInvalidTimestamp}
	// ErrInvalidGroupID is INVALID_ARGUMENT for a group ID the broker
	// cannot take (empty, too long, not UTF-8, a control character): the
	// same code over HTTP; INVALID_GROUP_ID to a Kafka client, which
	// gives up rather than retry it.
	ErrInvalidGroupID = &Error{Code: "INVALID_ARGUMENT", Status: http.StatusBadRequest, Kafka: kafkaInvalidGroupID}

	// Unknown things (404).
	ErrNotFound = &Error{Code: "NOT_FOUND", Status: http.StatusNotFound, Kafka: kafkaUnknownServerError} // no such route
	// ErrNotClustered: a cluster route (GET /cluster) on a broker started
	// without --node-id and --peers.
	ErrNotClustered      = &Error{Code: "NOT_CLUSTERED", Status: http.StatusNotFound, Kafka: kafkaInvalidRequest}
	ErrTopicNotFound     = &Error{Code: "TOPIC_NOT_FOUND", Status: http.StatusNotFound, Kafka: kafkaUnknownTopicOrPartition}
	ErrPartitionNotFound = &Error{Code: "PARTITION_NOT_FOUND", Status: http.StatusNotFound, Kafka: kafkaUnknownTopicOrPartition}
	ErrGroupNotFound     = &Error{Code: "GROUP_NOT_FOUND", Status: http.StatusNotFound, Kafka: kafkaGroupIDNotFound}
	// ErrUnknownMember: the member_id is not in the group (never joined, left,
	// or was removed after its session timed out). The client must join again.
	ErrUnknownMember = &Error{Code: "UNKNOWN_MEMBER_ID", Status: http.StatusNotFound, Kafka: kafkaUnknownMemberID}

	// Conflicts and fencing (409).
	ErrTopicExists = &Error{Code: "TOPIC_ALREADY_EXISTS", Status: http.StatusConflict, Kafka: kafkaTopicAlreadyExists}
	// ErrStaleGeneration: the request's generation is older than the
	// member's current one, or outside 0..the group's generation (details
	// carry the member's current generation). Retriable: heartbeat to learn the current
	// generation and assignment, then retry with it.
	ErrStaleGeneration = &Error{Code: "STALE_GENERATION", Status: http.StatusConflict, Retriable: true, Kafka: kafkaIllegalGeneration}
	// ErrFencedMember: the member was fenced (session or rebalance timeout, or
	// replaced by a newer instance with the same instance_id). Rejoin.
	ErrFencedMember = &Error{Code: "FENCED_MEMBER", Status: http.StatusConflict, Kafka: kafkaFencedInstanceID}
	// ErrDuplicateInstance: a live member (one that heartbeated within its
	// heartbeat interval) already uses this instance_id. Retriable: a
	// restarted static member retries until its old self has gone quiet.
	ErrDuplicateInstance = &Error{Code: "DUPLICATE_INSTANCE_ID", Status: http.StatusConflict, Retriable: true, Kafka: kafkaUnknownServerError}
	// ErrInconsistentAssignor: the group already uses another assignor.
	ErrInconsistentAssignor = &Error{Code: "INCONSISTENT_ASSIGNOR", Status: http.StatusConflict, Kafka: kafkaInconsistentGroupProtocol}
	// ErrInconsistentProtocol: the group has members of the other protocol
	// (Kafka clients vs the HTTP API); a group speaks one at a time.
	ErrInconsistentProtocol = &Error{Code: "INCONSISTENT_GROUP_PROTOCOL", Status: http.StatusConflict, Kafka: kafkaInconsistentGroupProtocol}
	// ErrNotOwner: the member does not own the partition it names.
	ErrNotOwner = &Error{Code: "NOT_PARTITION_OWNER", Status: http.StatusConflict, Kafka: kafkaStaleMemberEpoch}
	// ErrGroupNotEmpty: the operation needs a group with no members.
	ErrGroupNotEmpty = &Error{Code: "GROUP_NOT_EMPTY", Status: http.StatusConflict, Kafka: kafkaNonEmptyGroup}
	// ErrNoOffset: offset_reset is "none" and the group has no committed
	// offset for a partition; details name it. Commit or reset an offset.
	ErrNoOffset = &Error{Code: "NO_COMMITTED_OFFSET", Status: http.StatusConflict, Kafka: kafkaUnknownServerError}
	// ErrTooManyTopics, ErrTooManyGroups, ErrTooManyMembers: the broker
	// holds as many topics, groups, or members of the group as its limits
	// allow (details: the limit). Delete some, or raise the broker's limit.
	ErrTooManyTopics  = &Error{Code: "TOO_MANY_TOPICS", Status: http.StatusConflict, Kafka: kafkaPolicyViolation}
	ErrTooManyGroups  = &Error{Code: "TOO_MANY_GROUPS", Status: http.StatusConflict, Kafka: kafkaPolicyViolation}
	ErrTooManyMembers = &Error{Code: "TOO_MANY_MEMBERS", Status: http.StatusConflict, Kafka: kafkaGroupMaxSizeReached}
	// ErrNotInFlight: an ack/nack/extend names a message that is not in
	// flight for this member (never delivered, already acked, or handed off).
	ErrNotInFlight = &Error{Code: "MESSAGE_NOT_IN_FLIGHT", Status: http.StatusConflict, Kafka: kafkaUnknownServerError}
	// ErrOutOfOrderSequence: an idempotent batch's sequence is not the next
	// its producer has on the partition (details: expected_sequence, index
	// of the frame): an earlier batch was lost or refused. Nothing of the
	// request was written.
	ErrOutOfOrderSequence = &Error{Code: "OUT_OF_ORDER_SEQUENCE", Status: http.StatusConflict, Kafka: kafkaOutOfOrderSequence}
	// ErrInvalidProducerEpoch: an idempotent batch from an epoch older than
	// the newest the partition saw of its producer (details:
	// producer_epoch). Nothing of the request was written.
	ErrInvalidProducerEpoch = &Error{Code: "INVALID_PRODUCER_EPOCH", Status: http.StatusConflict, Kafka: kafkaInvalidProducerEpoch}
	// ErrReplayInProgress: in a cluster, another node is replaying the
	// same DLQ (details: node, until: when its claim lapses unless it
	// renews it, RFC 3339). Retriable: retry once it is done; a claim
	// whose node died is taken over once it lapses.
	ErrReplayInProgress = &Error{Code: "REPLAY_IN_PROGRESS", Status: http.StatusConflict, Retriable: true, Kafka: kafkaUnknownServerError}
	// ErrNotLeader: in a cluster, another node leads the partition read or
	// written (details: partition, leader, leader_addr); go there.
	ErrNotLeader = &Error{Code: "NOT_LEADER", Status: http.StatusMisdirectedRequest, Retriable: true, Kafka: kafkaNotLeaderForPartition}
	// ErrNotCoordinator: in a cluster, another node coordinates the group
	// (details: coordinator, coordinator_addr); send the group's requests
	// there.
	ErrNotCoordinator = &Error{Code: "NOT_COORDINATOR", Status: http.StatusMisdirectedRequest, Retriable: true, Kafka: kafkaNotCoordinator}

	// Sizes (413, 431), load (429), availability (503), auth (401), method (405).
	ErrMessageTooLarge = &Error{Code: "MESSAGE_TOO_LARGE", Status: http.StatusRequestEntityTooLarge, Kafka: kafkaMessageTooLarge}
	ErrBodyTooLarge    = &Error{Code: "BODY_TOO_LARGE", Status: http.StatusRequestEntityTooLarge, Kafka: kafkaMessageTooLarge}
	// ErrTooManyMessages: a publish holds more messages than the broker's
	// cap (details: max_batch_messages). Split the batch.
	ErrTooManyMessages = &Error{Code: "TOO_MANY_MESSAGES", Status: http.StatusRequestEntityTooLarge, Kafka: kafkaRecordListTooLarge}
	// ErrHeadersTooLarge: the request line and headers are longer than the
	// broker's --max-header-bytes (details: max_header_bytes). Send fewer
	// or shorter headers (a smaller token or cookie).
	ErrHeadersTooLarge = &Error{Code: "HEADERS_TOO_LARGE", Status: http.StatusRequestHeaderFieldsTooLarge, Kafka: kafkaUnknownServerError}
	// ErrTooManyRequests: the broker holds as many bytes of requests
	// being decoded (bodies, decompressed batches) as it allows at once;
	// retry shortly. Kafka clients get REQUEST_TIMED_OUT, which every one
	// of them retries (UNKNOWN_SERVER_ERROR, which none does, failed the
	// produce).
	ErrTooManyRequests = &Error{Code: "TOO_MANY_REQUESTS", Status: http.StatusTooManyRequests, Retriable: true, Kafka: kafkaRequestTimedOut}
	ErrUnavailable     = &Error{Code: "UNAVAILABLE", Status: http.StatusServiceUnavailable, Retriable: true, Kafka: kafkaNotLeaderForPartition} // starting, recovering or shutting down

	// ErrPartitionLost: a partition of the cluster whose Raft group can never
	// elect a leader again, because replicas it needs were on disks that
	// are gone (their nodes restarted on an empty data directory and
	// rejoined as new replicas): with replication factor 1 its only copy,
	// with 2 one of its two. No retry mends it, so not retriable (410 Gone);
	// details: partition, replicas, lost_replicas (the wiped ones) and,
	// when a copy survives, surviving_replicas. Kafka clients get
	// LEADER_NOT_AVAILABLE, what Kafka answers for a partition with no
	// replica left to lead it (retriable there: Kafka has no code for
	// "lost"; its Metadata names the partition leaderless, so clients send
	// keyless records to the topic's other partitions). Recovery: delete
	// the topic and create it again (docs/cluster.md).
	ErrPartitionLost = &Error{Code: "PARTITION_LOST", Status: http.StatusGone, Kafka: kafkaLeaderNotAvailable}

	ErrUnauthorized = &Error{Code: "UNAUTHORIZED", Status: http.StatusUnauthorized, Kafka: kafkaSaslAuthenticationFailed}
	// ErrForbidden: the API key is valid but its scope does not allow the
	// request; details name the missing permission and the topic or group.
	// Also a browser's write from another site (details: origin).
	ErrForbidden        = &Error{Code: "FORBIDDEN", Status: http.StatusForbidden, Kafka: kafkaUnknownServerError}
	ErrMethodNotAllowed = &Error{Code: "METHOD_NOT_ALLOWED", Status: http.StatusMethodNotAllowed, Kafka: kafkaUnknownServerError}
	ErrUnsupportedMedia = &Error{Code: "UNSUPPORTED_MEDIA_TYPE", Status: http.StatusUnsupportedMediaType, Kafka: kafkaUnknownServerError}

	// ErrStorageFull: the device of the data directory is full, a file is at
	// its size limit, or the broker has as many files open as it may (507). Nothing
	// of the failed write was applied unless details say otherwise (an ack's
	// details.result; a publish's details.written_partitions, and then it is
	// not retriable); retry once space is freed.
	ErrStorageFull = &Error{Code: "STORAGE_FULL", Status: http.StatusInsufficientStorage, Retriable: true, Kafka: kafkaKafkaStorageError}
	// ErrStorageFailed: the data directory was removed or replaced, its file
	// system is read-only or its permissions forbid a write, or a log can no
	// longer be written (a failed fsync); the broker refuses writes and
	// /readyz answers 503 until an operator restarts it on a sound directory.
	ErrStorageFailed = &Error{Code: "STORAGE_FAILED", Status: http.StatusServiceUnavailable, Kafka: kafkaKafkaStorageError}

	// ErrInternal is a broker fault, never a client's mistake (500).
	ErrInternal = &Error{Code: "INTERNAL", Status: http.StatusInternalServerError, Retriable: true, Kafka: kafkaUnknownServerError}
)

// Codes lists every error of the table, for documentation and tests.
func Codes() []*Error {
	return []*Error{
		ErrBadRequest, ErrInvalidArgument, ErrInvalidTopicName, ErrInvalidPartitions,
		ErrOffsetOutOfRange, ErrInvalidAssignor, ErrInvalidTimeout,
		ErrNotFound, ErrNotClustered, ErrTopicNotFound, ErrPartitionNotFound, ErrGroupNotFound, ErrUnknownMember,
		ErrTopicExists, ErrStaleGeneration, ErrFencedMember, ErrDuplicateInstance,
		ErrInconsistentAssignor, ErrInconsistentProtocol, ErrNotOwner, ErrGroupNotEmpty, ErrNoOffset, ErrNotInFlight,
		ErrOutOfOrderSequence, ErrInvalidProducerEpoch, ErrReplayInProgress, ErrNotLeader, ErrNotCoordinator,
		ErrTooManyTopics, ErrTooManyGroups, ErrTooManyMembers,
		ErrMessageTooLarge, ErrBodyTooLarge, ErrTooManyMessages, ErrHeadersTooLarge, ErrTooManyRequests, ErrUnavailable,
		ErrPartitionLost,
		ErrUnauthorized, ErrForbidden, ErrMethodNotAllowed, ErrUnsupportedMedia,
		ErrStorageFull, ErrStorageFailed, ErrInternal,
	}
}

// Kafka protocol error codes of the table's Kafka column (the protocol's
// numbers; api imports only the standard library). A code with no Kafka
// counterpart, HTTP's alone or the broker's own, is said as
// UNKNOWN_SERVER_ERROR.
const (
	kafkaUnknownServerError        int16 = -1
	kafkaOffsetOutOfRange          int16 = 1
	kafkaCorruptMessage            int16 = 2
	kafkaUnknownTopicOrPartition   int16 = 3
	kafkaMessageTooLarge           int16 = 10
	kafkaLeaderNotAvailable        int16 = 5  // retriable: the client refreshes its metadata and retries
	kafkaNotLeaderForPartition     int16 = 6  // retriable: the client refreshes its metadata and retries
	kafkaRequestTimedOut           int16 = 7  // retriable: the client retries the same broker
	kafkaNotCoordinator            int16 = 16 // retriable: the client finds the coordinator again
	kafkaInvalidTopic              int16 = 17
	kafkaRecordListTooLarge        int16 = 18
	kafkaIllegalGeneration         int16 = 22
	kafkaInconsistentGroupProtocol int16 = 23
	kafkaInvalidGroupID            int16 = 24
	kafkaUnknownMemberID           int16 = 25
	kafkaInvalidSessionTimeout     int16 = 26
	kafkaTopicAlreadyExists        int16 = 36
	kafkaInvalidPartitions         int16 = 37
	kafkaInvalidTimestamp          int16 = 32
	kafkaInvalidConfig             int16 = 40
	kafkaInvalidRequest            int16 = 42 // also "sent to an incompatible broker"
	kafkaPolicyViolation           int16 = 44
	kafkaOutOfOrderSequence        int16 = 45
	kafkaInvalidProducerEpoch      int16 = 47
	kafkaKafkaStorageError         int16 = 56 // retriable, as 507 and 503 are over HTTP
	kafkaSaslAuthenticationFailed  int16 = 58
	kafkaNonEmptyGroup             int16 = 68
	kafkaGroupIDNotFound           int16 = 69
	kafkaGroupMaxSizeReached       int16 = 81 // JoinGroup (any version, Kafka 2.2+) and ConsumerGroupHeartbeat: fatal for the member
	kafkaFencedInstanceID          int16 = 82
	kafkaUnsupportedAssignor       int16 = 112
	kafkaStaleMemberEpoch          int16 = 113 // a KIP-848 member's commit of a partition it no longer owns
)
