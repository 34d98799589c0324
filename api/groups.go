package api

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Assignment maps a topic to partition numbers, sorted ascending:
// {"orders":[0,1]}.
type Assignment map[string][]int32

// Assignor names, as sent in JoinRequest.Assignor (a join may also spell
// them as the consumer-groups guide does, in any case: "RoundRobin",
// "Cooperative"; the group answers these names). The first three rebalance
// eagerly (every member releases everything before the new plan is handed
// out); cooperative-sticky, the default, moves only what must move.
const (
	AssignorRange             = "range"
	AssignorRoundRobin        = "roundrobin"
	AssignorSticky            = "sticky"
	AssignorCooperativeSticky = "cooperative-sticky"
)

// Offset reset policies, as sent in JoinRequest.OffsetReset: where a group
// with no committed offset starts. The policy applies to the partitions a
// topic has when the group first subscribes to it (latest: their high
// watermarks then, not at the first poll). A partition added to the topic
// later, or a topic deleted and created again, starts at its earliest
// offset, as Kafka applies auto.offset.reset only to the initial position:
// nothing produced to it is skipped.
const (
	OffsetResetEarliest = "earliest"
	OffsetResetLatest   = "latest"
	OffsetResetNone     = "none"
)

// JoinRequest is the body of POST /groups/{group}/join. Only Topics is
// required; an empty MemberID gets one from the broker.
type JoinRequest struct {
	MemberID           string   `json:"member_id,omitempty"`
	Topics             []string `json:"topics"`
	SessionTimeoutMS   int64    `json:"session_timeout_ms,omitempty"`   // default 30000
	RebalanceTimeoutMS int64    `json:"rebalance_timeout_ms,omitempty"` // default: the session timeout
	Assignor           string   `json:"assignor,omitempty"`             // default cooperative-sticky
	InstanceID         string   `json:"instance_id,omitempty"`          // static membership
	OffsetReset        string   `json:"offset_reset,omitempty"`         // default earliest
	ClientID           string   `json:"client_id,omitempty"`

	// Per-group delivery settings, fixed by the member that creates the
	// group (later joins may omit them; naming other values is a conflict).
	// Zero takes the broker's defaults. The group keeps them, with its
	// assignor and offset_reset, when its members leave and across
	// restarts: a join that creates it again and omits one gets the
	// group's, until the group is deleted.
	MaxRetries          int   `json:"max_retries,omitempty"`           // default 3; a message that failed (nack, visibility timeout) this many times more is dead-lettered; handoffs are no failures
	VisibilityTimeoutMS int64 `json:"visibility_timeout_ms,omitempty"` // default 30000
	MaxInFlight         int   `json:"max_in_flight,omitempty"`         // per member; default 1000
}

// JoinResponse answers a join. AssignedPartitions is what the member may own
// now; more may come through heartbeats as other members release partitions.
type JoinResponse struct {
	MemberID            string     `json:"member_id"`
	Generation          int64      `json:"generation"`
	AssignedPartitions  Assignment `json:"assigned_partitions"`
	HeartbeatIntervalMS int64      `json:"heartbeat_interval_ms"`
	SessionTimeoutMS    int64      `json:"session_timeout_ms"`
	Assignor            string     `json:"assignor"`
	// MaxInFlight is the most messages the member may hold unsettled: the
	// group's max_in_flight, or the broker's default. A client that did not
	// name it learns it here (0 from a broker older than the field).
	MaxInFlight int `json:"max_in_flight,omitempty"`
	// NodeID is set by a cluster node: the coordinator that answered. Its
	// members learn the cluster's other nodes (GET /cluster) then, to
	// reach the group's next coordinator when this node dies.
	NodeID uint64 `json:"node_id,omitempty"`
}

// HeartbeatRequest is the body of POST /groups/{group}/heartbeat.
// OwnedPartitions is what the member holds right now; a partition it was told
// to release counts as released once it is absent here. Absent or null (nil
// after decoding) means "no change": nothing is released. Only an explicit
// assignment releases what it leaves out, so {} (an empty, non-nil map)
// releases everything. Generation must be from 0 up to the group's
// (STALE_GENERATION otherwise, with the member's generation in details),
// and not from before the member joined with its member_id (above 0 and
// below its first generation: FENCED_MEMBER, an earlier member's with the
// same ID).
type HeartbeatRequest struct {
	MemberID        string     `json:"member_id"`
	Generation      int64      `json:"generation"`
	OwnedPartitions Assignment `json:"owned_partitions"`
	// Seq, when above 0, orders the member's heartbeats: it must grow with
	// every heartbeat the member sends (only a resend of the same request
	// repeats it) and starts over at each join. A heartbeat whose seq is
	// not above the highest seen since the join keeps the member alive, but
	// its owned_partitions are not read: a request delayed past later ones
	// must not release what the member was granted since. Negative:
	// INVALID_ARGUMENT.
	Seq int64 `json:"seq,omitempty"`
}

// HeartbeatResponse tells the member what it may own now. Anything it owns
// that is not in AssignedPartitions it must release (commit, stop, and leave
// it out of its next heartbeat); RevokedPartitions lists exactly that.
type HeartbeatResponse struct {
	Generation          int64      `json:"generation"`
	AssignedPartitions  Assignment `json:"assigned_partitions"`
	RevokedPartitions   Assignment `json:"revoked_partitions,omitempty"`
	HeartbeatIntervalMS int64      `json:"heartbeat_interval_ms"`
}

// LeaveRequest is the body of POST /groups/{group}/leave.
type LeaveRequest struct {
	MemberID string `json:"member_id"`
}

// PollRequest is the body of POST /groups/{group}/poll. WaitMS long-polls:
// the answer comes as soon as a message is deliverable, or empty after WaitMS.
type PollRequest struct {
	MemberID    string `json:"member_id"`
	Generation  int64  `json:"generation"`
	MaxMessages int    `json:"max_messages,omitempty"` // default 100
	// MaxBytes caps the answer's message bytes (key, value and headers, as
	// max_message_bytes counts them); default 4 MiB. The broker takes no
	// message that might not fit, so nothing goes in flight undelivered; a
	// poll always hands out at least one message if any is deliverable, even
	// one larger than MaxBytes. It may answer fewer bytes than MaxBytes.
	MaxBytes int   `json:"max_bytes,omitempty"`
	WaitMS   int64 `json:"wait_ms,omitempty"`
	// Acks acknowledges messages before the poll, as POST /ack's ranges
	// do, so that a consumer's round of acknowledgements and next poll is
	// one request. A message the ack cannot settle because it is no longer
	// this member's to settle (handed off, or redelivered after its
	// visibility timeout: AckLost) does not fail the poll: it is counted in
	// PollResponse.AckRefused; one already settled is not counted, its ack
	// holds. What refuses the acks as a whole (bad ranges, offsets that
	// could not be kept) fails the poll as it fails POST /ack, and nothing
	// is polled; a stale generation or an unknown member fails the poll and
	// settles nothing. A client that gets an error sends the acks again:
	// those already settled then count as settled.
	Acks []OffsetRange `json:"acks,omitempty"`
}

// PollResponse carries messages now in flight for the member.
//
// Rebalance is true when a heartbeat now would change what the member may
// own (partitions to take or to release): the member should heartbeat at
// once instead of at its interval. A long poll answers as soon as that
// becomes so, with or without messages, so a rebalance travels in
// milliseconds; it answers early once per change, so a client that ignores
// the field long-polls as before. The binary answer
// (PollBatchesContentType) carries it in the PollRebalanceHeader header.
//
// AckRefused counts the messages of the request's Acks whose ack was lost:
// not settled, and delivered again (see PollRequest.Acks); the binary
// answer carries it in the PollAckRefusedHeader header.
type PollResponse struct {
	Messages   []Message `json:"messages"`
	Rebalance  bool      `json:"rebalance,omitempty"`
	AckRefused int       `json:"ack_refused,omitempty"`
}

// PollRebalanceHeader is set to "true" on a poll answer whose Rebalance is
// true, JSON or binary.
const PollRebalanceHeader = "Goqueue-Rebalance"

// PollAckRefusedHeader carries PollResponse.AckRefused when it is not
// zero, JSON or binary.
const PollAckRefusedHeader = "Goqueue-Ack-Refused"

// NoForwardHeader, set (to anything) on a request naming a group, has a
// cluster node that does not coordinate the group answer NOT_COORDINATOR
// naming the coordinator, rather than have the coordinator serve the
// request and pass its answer on. The Go client sets it on its writes
// (any method but GET): it remembers each group's coordinator and talks
// to it directly; its reads any node serves.
const NoForwardHeader = "Goqueue-No-Forward"

// MessageRef names one message.
type MessageRef struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// OffsetRange names every message of one partition from From up to, not
// including, To: [From, To). In an ack it stands for the same messages listed
// one by one, in a fraction of the bytes: a poll's answer holds runs of
// consecutive offsets per partition, each acknowledged as one range.
type OffsetRange struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	From      int64  `json:"from"`
	To        int64  `json:"to"` // exclusive
}

// MaxRangeMessages is the most messages the ranges of one ack, nack or
// extend may name together (INVALID_ARGUMENT beyond).
const MaxRangeMessages = 100000

// AckRequest is the body of /ack, /nack and /extend on a group. Requeue,
// DelayMS and Reason apply to nack; VisibilityTimeoutMS to extend. Messages
// and Ranges (optional) together name the messages, Messages first; a
// request must name at least one. A failure inside a range is reported per
// message, as for Messages.
type AckRequest struct {
	MemberID   string        `json:"member_id"`
	Generation int64         `json:"generation"`
	Messages   []MessageRef  `json:"messages"`
	Ranges     []OffsetRange `json:"ranges,omitempty"`
	Requeue    *bool         `json:"requeue,omitempty"`  // nack: default true (retry with backoff)
	DelayMS    int64         `json:"delay_ms,omitempty"` // nack: instead of the backoff
	Reason     string        `json:"reason,omitempty"`   // nack: kept as the DLQ's last error
	// Release (nack only) hands the messages back unprocessed: delivered
	// again at once, to whoever owns the partition then, as a handoff
	// does: no retry is spent (delivery_count still counts the delivery).
	// A client uses it for messages a poll answered for a partition it no
	// longer takes. It cannot be combined with requeue false or delay_ms.
	Release             bool  `json:"release,omitempty"`
	VisibilityTimeoutMS int64 `json:"visibility_timeout_ms,omitempty"`
}

// AckResponse reports what an ack, nack or extend did, per message. The
// request succeeds (200) only if every message succeeded; otherwise the
// status and body are the first failure's error, and its details hold this
// response under "result". Successful messages are applied either way.
//
// Failed lists the first MaxListedFailures failures; FailedCount counts
// them all, and Lost those AckLost names (for an ack: acknowledgements
// that did not take, whose messages are delivered again).
type AckResponse struct {
	Succeeded   int          `json:"succeeded"`
	Failed      []MessageErr `json:"failed,omitempty"`
	FailedCount int          `json:"failed_count,omitempty"`
	Lost        int          `json:"lost,omitempty"`
}

// MaxListedFailures bounds AckResponse.Failed: ranges may name 100,000
// messages, and listing each failure of such a request made an answer of
// megabytes.
const MaxListedFailures = 1000

// NotInFlightSettled is the details.state of a MESSAGE_NOT_IN_FLIGHT that
// names a message already settled (acknowledged, dead-lettered, or below
// the committed offset): it is not delivered again, whoever settled it
// (this member's earlier try of the same ack, or the member it went to
// after this one's deadline). The broker says it for such a message even
// when the member no longer owns its partition, instead of
// NOT_PARTITION_OWNER.
const NotInFlightSettled = "acknowledged"

// AckLost reports whether e, refusing the ack of one message, says the
// acknowledgement did not take and the message is not settled: it is
// delivered again (its visibility deadline passed, or its partition went
// to another member, and nobody has acknowledged it since). A refusal of
// an ack whose message is settled already is not a loss: nothing is
// delivered again (the message may have been processed twice, as
// at-least-once allows, when another member settled it).
func AckLost(e *Error) bool {
	switch {
	case e.Is(ErrNotOwner):
		return true
	case e.Is(ErrNotInFlight):
		return e.Details["state"] != NotInFlightSettled
	}
	return false
}

// MessageErr is one message an ack, nack or extend could not apply.
type MessageErr struct {
	MessageRef
	Error *Error `json:"error"`
}

// Offsets maps topic → partition → offset; partitions are JSON object keys:
// {"orders":{"0":42}}. A committed offset is the next offset to deliver.
type Offsets map[string]map[int32]int64

// UnmarshalJSON reads b as encoding/json reads an Offsets, except that a
// partition key must be written as strconv writes its number, as numbers
// in paths and queries must: "01" and "+1" were read as partition 1, and
// beside "1" in one object one of the two offsets was dropped unseen. For
// the same reason a topic or a partition named twice is refused:
// encoding/json keeps the last, so {"t":{"0":1},"t":{"1":2}} dropped the
// offset of partition 0.
func (o *Offsets) UnmarshalJSON(b []byte) error {
	var raw map[string]map[string]int64
	if err := json.Unmarshal(b, &raw); err != nil {
		return ErrInvalidArgument.Withf("offsets: %v", err).WithDetail("field", "offsets")
	}
	if raw == nil {
		*o = nil
		return nil
	}
	if err := offsetsKeysOnce(b); err != nil {
		return err
	}
	out := make(Offsets, len(raw))
	for topic, ps := range raw {
		if ps == nil {
			out[topic] = nil
			continue
		}
		m := make(map[int32]int64, len(ps))
		for k, off := range ps {
			p, err := strconv.ParseInt(k, 10, 32)
			if err != nil || strconv.FormatInt(p, 10) != k {
				return ErrInvalidArgument.Withf("offsets: partition %q of topic %q is not a partition number written plainly (no sign, no leading zeros)", k, topic).
					WithDetail("field", "offsets").WithDetail("topic", topic)
			}
			m[int32(p)] = off
		}
		out[topic] = m
	}
	*o = out
	return nil
}

// offsetsKeysOnce refuses b, an Offsets object encoding/json has read
// already, if it names a topic, or a partition of one topic, twice (keys
// compared as decoded, so "\u0074" is "t").
func offsetsKeysOnce(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	topics := map[string]bool{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		topic := k.(string)
		if topics[topic] {
			return ErrInvalidArgument.Withf("offsets: topic %q named twice; put its partitions in one object", topic).
				WithDetail("field", "offsets").WithDetail("topic", topic)
		}
		topics[topic] = true
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			continue // null: no partitions
		}
		parts := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			if _, err := dec.Token(); err != nil { // the offset
				return err
			}
			p := k.(string)
			if parts[p] {
				return ErrInvalidArgument.Withf("offsets: partition %q of topic %q named twice", p, topic).
					WithDetail("field", "offsets").WithDetail("topic", topic)
			}
			parts[p] = true
		}
		if _, err := dec.Token(); err != nil { // }
			return err
		}
	}
	return nil
}

// CommitOffsetsRequest is the body of POST /groups/{group}/offsets.
type CommitOffsetsRequest struct {
	MemberID   string  `json:"member_id"`
	Generation int64   `json:"generation"`
	Offsets    Offsets `json:"offsets"`
}

// OffsetsResponse is the answer of GET /groups/{group}/offsets.
type OffsetsResponse struct {
	GroupID string  `json:"group_id"`
	Offsets Offsets `json:"offsets"`
}

// Offset reset modes, as sent in ResetOffsetsRequest.To.
const (
	ResetToEarliest  = "earliest"  // the oldest offset kept
	ResetToLatest    = "latest"    // the high watermark: only messages published from now on
	ResetToTimestamp = "timestamp" // the first offset at or after Timestamp (ms since the epoch)
	ResetToDuration  = "duration"  // the first offset at or after now − DurationMS
	ResetToShift     = "shift"     // the committed offset + Shift (negative: back), within earliest..latest
	ResetToOffsets   = "offsets"   // exactly Offsets
	ResetToGroup     = "group"     // FromGroup's committed offsets
	ResetToDelete    = "delete"    // forget the offsets: the next join starts from its offset_reset
)

// ResetOffsetsRequest is the body of POST /groups/{group}/offsets/reset. A
// reset that changes offsets is allowed only on a group with no members
// (GROUP_NOT_EMPTY); with DryRun it changes nothing and answers what it
// would do, for any group.
//
// Which partitions: Topics (default: every topic the group has offsets for;
// with To "group", every topic FromGroup has offsets for), and Partitions
// to limit a single topic to some of its partitions. To "offsets" takes its
// partitions from Offsets. To "delete" needs Topics.
//
// Offsets outside a partition's earliest..high watermark are refused for
// To "offsets"; a shift, a copy and a time past either end stop at it. A
// shift of a partition with nothing committed starts from its earliest
// offset.
type ResetOffsetsRequest struct {
	To         string   `json:"to"`
	Topics     []string `json:"topics,omitempty"`
	Partitions []int32  `json:"partitions,omitempty"`  // with exactly one topic
	Timestamp  int64    `json:"timestamp,omitempty"`   // to timestamp: ms since the Unix epoch
	DurationMS int64    `json:"duration_ms,omitempty"` // to duration: how long ago
	Shift      int64    `json:"shift,omitempty"`       // to shift: offsets to move (negative: back)
	Offsets    Offsets  `json:"offsets,omitempty"`     // to offsets
	FromGroup  string   `json:"from_group,omitempty"`  // to group: the group to copy
	DryRun     bool     `json:"dry_run,omitempty"`     // preview: change nothing
}

// ResetOffsetsResponse answers a reset: the group's offsets after it (with
// DryRun: as they would be) and what changed, partition by partition.
type ResetOffsetsResponse struct {
	GroupID string         `json:"group_id"`
	Offsets Offsets        `json:"offsets"`
	DryRun  bool           `json:"dry_run,omitempty"`
	Changes []OffsetChange `json:"changes"`
}

// OffsetChange is one partition a reset moves, from its committed offset
// to the new one; -1 is no offset (none committed before, or deleted).
type OffsetChange struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	From      int64  `json:"from"`
	To        int64  `json:"to"`
}

// Group states as shown in GroupDescription.State.
const (
	GroupStateEmpty       = "empty"       // no members; offsets kept
	GroupStateReconciling = "reconciling" // members are converging to a new target assignment
	GroupStateStable      = "stable"      // every member owns exactly its target
	GroupStateDead        = "dead"        // deleted
)

// GroupDescription is the answer of GET /groups/{group}; GET /groups lists
// them in GroupList.
type GroupDescription struct {
	GroupID    string              `json:"group_id"`
	State      string              `json:"state"`
	Generation int64               `json:"generation"`
	Assignor   string              `json:"assignor"`
	Members    []MemberDescription `json:"members"`
	Partitions []PartitionStatus   `json:"partitions,omitempty"`
	Lag        int64               `json:"lag"` // sum of the partitions' offset lag
	Rebalances RebalanceStats      `json:"rebalances"`
	// ExpiresAt (unix ms) is when the broker deletes the group, with its
	// offsets, if no member joins and nothing commits or resets before
	// (--offsets-retention); absent while it has members, or with no
	// retention.
	ExpiresAt int64 `json:"expires_at,omitempty"`
}

// GroupList is the answer of GET /groups.
type GroupList struct {
	Groups []GroupDescription `json:"groups"`
	// NodeID is set by a cluster node: the node that answered. Its list
	// holds the groups it coordinates and those the other nodes it
	// reached coordinate: Complete when it reached every node, else
	// UnreachedNodes names those whose groups are missing.
	NodeID         uint64   `json:"node_id,omitempty"`
	Complete       bool     `json:"complete,omitempty"`
	UnreachedNodes []uint64 `json:"unreached_nodes,omitempty"`
}

// MemberDescription is one member as the broker sees it. ClientHost is the
// peer address of the member's last request. Idle members (more members than
// partitions) have an empty assignment and Idle set.
type MemberDescription struct {
	MemberID           string     `json:"member_id"`
	InstanceID         string     `json:"instance_id,omitempty"`
	ClientID           string     `json:"client_id,omitempty"`
	ClientHost         string     `json:"client_host"`
	Generation         int64      `json:"generation"`
	AssignedPartitions Assignment `json:"assigned_partitions"`
	RevokingPartitions Assignment `json:"revoking_partitions,omitempty"`
	TargetPartitions   Assignment `json:"target_partitions,omitempty"` // its share once the group settles
	Topics             []string   `json:"topics"`
	// TopicRegex is a KIP-848 member's regex subscription (Topics are
	// then the topics it matches now); omitted for a subscription by name.
	TopicRegex       string `json:"topic_regex,omitempty"`
	SessionTimeoutMS int64  `json:"session_timeout_ms"`
	LastHeartbeat    int64  `json:"last_heartbeat"` // ms since the Unix epoch
	Idle             bool   `json:"idle,omitempty"`
	InFlight         int    `json:"in_flight"`
}

// PartitionStatus is a group's progress on one partition. Lag is
// HighWatermark − CommittedOffset; TimeLagMS is the age of the oldest message
// the group has not consumed (0 when caught up). A Kafka classic group's
// partition with none committed has no known lag (0): its client chooses
// where to start.
type PartitionStatus struct {
	Topic           string `json:"topic"`
	Partition       int32  `json:"partition"`
	Owner           string `json:"owner,omitempty"`
	CommittedOffset int64  `json:"committed_offset"` // -1: none committed yet
	HighWatermark   int64  `json:"high_watermark"`
	Lag             int64  `json:"lag"`
	TimeLagMS       int64  `json:"time_lag_ms"`
	InFlight        int    `json:"in_flight"`
	Redelivered     int64  `json:"redelivered"`
	DeadLettered    int64  `json:"dead_lettered"`
}

// RebalanceStats counts a group's rebalances; Recent holds the last few,
// newest first.
type RebalanceStats struct {
	Count           int64            `json:"count"`
	ByReason        map[string]int64 `json:"by_reason,omitempty"`
	TotalDurationMS int64            `json:"total_duration_ms"`
	InProgress      bool             `json:"in_progress"`
	Recent          []Rebalance      `json:"recent,omitempty"`
}

// Rebalance is one change of a group's target assignment.
type Rebalance struct {
	Generation int64  `json:"generation"`
	Reason     string `json:"reason"`     // member_joined, member_left, session_timeout, ...
	StartedAt  int64  `json:"started_at"` // ms since the Unix epoch
	EndedAt    int64  `json:"ended_at,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`
	Moved      []Move `json:"moved,omitempty"`
}

// Move is one partition that changed owner in a rebalance. An empty From or
// To means the partition had or got no owner.
type Move struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
}

// VersionInfo is the answer of GET /version.
type VersionInfo struct {
	Version   string `json:"version"`
	GoVersion string `json:"go_version"`
	Commit    string `json:"commit,omitempty"`
}

// PollBatchesContentType, sent in the Accept header of POST
// /groups/{group}/poll, asks for the poll's messages in binary instead of
// JSON (the Go client's fast path: no JSON to decode, values as stored). A
// broker that answers so sets this Content-Type; any other answer (an older
// broker, an error) is JSON as usual. The body is a sequence of frames, each
// one run of consecutive offsets of one partition delivered the same number
// of times:
//
//	partition int32 | delivery_count int32 | topic_len uint16 | topic | batch_len int32 | batch
//
// all big endian, where batch is one Kafka RecordBatch v2 (no compression,
// CRC-32C set) whose records are the run's messages at FirstOffset +
// OffsetDelta. Record attribute 0x01 marks a value that was published as a
// JSON value rather than as text or bytes. Frames of one partition come in
// offset order; an empty poll is an empty body.
const PollBatchesContentType = "application/x-goqueue-poll-batches"

// PollStoredContentType, sent in the Accept header of POST
// /groups/{group}/poll, asks for the poll's messages as the stored batches
// that hold them (preferred over PollBatchesContentType when both are
// accepted; a broker that does not know it answers one of the others, and
// says which in Content-Type). The body is one frame per partition:
//
//	partition int32 | topic_len uint16 | topic |
//	range_count uint32 | range_count × (first int64 | last int64 | delivery_count int32) |
//	batch_count uint32 | batch_count × (batch_len int32 | batch)
//
// all big endian. The ranges are the offsets the member now holds (first
// and last included), ascending and disjoint; it must process those and
// only those. Each batch is a Kafka RecordBatch v2, CRC-32C set, maybe
// compressed: as stored, or a slice of a stored batch whose records keep
// their offset deltas (so they need not start at 0). Batches are ascending
// by offset and hold every offset of the ranges, and may hold records
// outside them, which the member skips. Control batches hold no messages.
// Record attribute 0x01 marks a value that was published as a JSON value.
// An empty poll is an empty body.
const PollStoredContentType = "application/x-goqueue-poll-stored"

// LagHistory is the answer of GET /groups/{group}/lag-history: the group's
// lag over time as points StepMS wide starting at Times[i] (ms since the
// epoch), each the peak of the samples taken inside it, or -1 where none
// was. The broker samples every IntervalMS and keeps 24 h by default; each
// partition keeps every sample for the last hour and 5-minute peaks before.
type LagHistory struct {
	GroupID    string                `json:"group_id"`
	IntervalMS int64                 `json:"interval_ms"`
	StepMS     int64                 `json:"step_ms"`
	Times      []int64               `json:"times"`
	Lag        []int64               `json:"lag"`         // the sum over partitions
	TimeLagMS  []int64               `json:"time_lag_ms"` // the largest of any partition
	Partitions []PartitionLagHistory `json:"partitions"`
}

// PartitionLagHistory is one partition's offset lag at the points of a
// LagHistory.
type PartitionLagHistory struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Lag       []int64 `json:"lag"`
}

// RebalanceHistory is the answer of GET /groups/{group}/rebalances: the
// group's rebalances, newest first; the one in progress, if any, first and
// without EndedAt. Closed ones survive restarts (the last 100 per group).
type RebalanceHistory struct {
	GroupID    string      `json:"group_id"`
	Rebalances []Rebalance `json:"rebalances"`
}
