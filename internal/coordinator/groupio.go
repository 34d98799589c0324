package coordinator

import (
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// The inputs and results of the group coordinator's methods. They are the
// broker's own vocabulary, shared by every front end: durations, not
// milliseconds, and no wire names. Each front end maps its requests onto
// them and checks its own fields (names, units, required fields) first.

// Assignment maps a topic to partition numbers, sorted ascending.
type Assignment map[string][]int32

// Offsets maps topic → partition → offset. A committed offset is the next
// offset to deliver.
type Offsets map[string]map[int32]int64

// Len counts the partitions o names an offset of.
func (o Offsets) Len() int {
	n := 0
	for _, parts := range o {
		n += len(parts)
	}
	return n
}

// CommitMetadata is what Kafka clients commit with their offsets (a
// string per partition, by topic), kept with the offset it came with
// while that offset is the committed one.
type CommitMetadata map[string]map[int32]string

// JoinParams is what a member joining a group says. Only Topics is
// required; an empty MemberID gets one from the broker. Zero durations and
// counts take the broker's defaults (or the group's saved settings).
type JoinParams struct {
	MemberID         string
	InstanceID       string // static membership
	ClientID         string
	Topics           []string
	TopicRegex       string        // instead of Topics, KIP-848 members only: the topics it matches in full, now and later
	SessionTimeout   time.Duration // within Groups.Timeouts
	RebalanceTimeout time.Duration // 0: the session timeout
	Assignor         string        // range, roundrobin, sticky or cooperative-sticky; "": the default
	OffsetReset      string        // earliest, latest or none; "": earliest

	// Delivery settings, fixed by the member that creates the group.
	MaxRetries        int           // -1: no retries; 0: default
	VisibilityTimeout time.Duration // at most MaxDelay
	MaxInFlight       int           // per member
}

// JoinResult is what a joined member may own now; more may come through
// heartbeats as other members release partitions.
type JoinResult struct {
	MemberID          string
	Generation        int64
	Assigned          Assignment // never nil
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration
	Assignor          string
	MaxInFlight       int // the member's cap: the group's, or the broker's default
}

// HeartbeatParams keeps a member alive. Owned is what it holds now; nil
// means "no change" (nothing released), an empty non-nil map releases
// everything.
type HeartbeatParams struct {
	MemberID   string
	Generation int64
	Owned      Assignment
	Seq        int64 // orders the member's heartbeats; ≤ 0: unordered (group.Group.Heartbeat)
}

// HeartbeatResult tells a member what it may own now; Revoked is what it
// must release (nil: nothing).
type HeartbeatResult struct {
	Generation        int64
	Assigned          Assignment // never nil
	Revoked           Assignment
	HeartbeatInterval time.Duration
}

// PollParams asks for messages. Zero MaxMessages and MaxBytes take
// DefaultPollMessages and DefaultPollBytes; Wait long-polls.
type PollParams struct {
	MemberID    string
	Generation  int64
	MaxMessages int
	MaxBytes    int
	Wait        time.Duration
}

// MessageRef names one message.
type MessageRef struct {
	Topic     string
	Partition int32
	Offset    int64
}

// OffsetRange names the messages of one partition in [From, To).
type OffsetRange struct {
	Topic     string
	Partition int32
	From, To  int64
}

// Settle names the messages an ack, nack or extend applies to: Messages,
// then Ranges; at least one message, at most MaxRangeMessages in ranges.
type Settle struct {
	MemberID   string
	Generation int64
	Messages   []MessageRef
	Ranges     []OffsetRange
}

// NackParams is a nack: the messages, and what to do with them. Delay
// replaces the retry backoff; Reject dead-letters at once; Release hands
// the messages back unprocessed (no retry spent) and excludes the others.
type NackParams struct {
	Settle
	Reject  bool
	Delay   time.Duration
	Reason  string // kept as the dead letter's last error
	Release bool
}

// ExtendParams pushes the visibility deadline of messages to Visibility
// from now (0: the group's visibility timeout).
type ExtendParams struct {
	Settle
	Visibility time.Duration
}

// SettleResult reports an ack, nack or extend message by message.
type SettleResult struct {
	Succeeded int
	Failed    []SettleFailure
}

// SettleFailure is one message an ack, nack or extend could not apply, and
// the coded error why.
type SettleFailure struct {
	MessageRef
	Err *api.Error
}

// CommitParams commits offsets a member chose.
type CommitParams struct {
	MemberID   string
	Generation int64
	Offsets    Offsets
	Metadata   CommitMetadata // a Kafka member's; nil: none
}

// ResetMode says where ResetOffsets moves a group's offsets.
type ResetMode int

// Reset modes; see ResetParams for the values each uses.
const (
	ResetEarliest  ResetMode = iota + 1 // the oldest offset kept
	ResetLatest                         // the high watermark
	ResetTimestamp                      // the first offset at or after Time
	ResetDuration                       // the first offset at or after now − Ago
	ResetShift                          // the committed offset + Shift, within earliest..latest
	ResetOffsets                        // exactly Offsets
	ResetGroup                          // FromGroup's committed offsets
	ResetDelete                         // forget the offsets
)

var resetModeNames = [...]string{"", "earliest", "latest", "timestamp", "duration", "shift", "offsets", "group", "delete"}

func (m ResetMode) String() string {
	if m > 0 && int(m) < len(resetModeNames) {
		return resetModeNames[m]
	}
	return "unknown"
}

// ResetParams is a reset of a group's offsets. Topics defaults to every
// topic the group (with ResetGroup: FromGroup) has offsets for; Partitions
// limits a single topic. ResetOffsets takes its partitions from Offsets;
// ResetDelete needs Topics.
type ResetParams struct {
	To         ResetMode
	Topics     []string
	Partitions []int32
	Time       time.Time     // ResetTimestamp
	Ago        time.Duration // ResetDuration: positive
	Shift      int64         // ResetShift: non-zero
	Offsets    Offsets       // ResetOffsets
	FromGroup  string        // ResetGroup: another group
	DryRun     bool          // change nothing; answer what would change

	// FromOffsets are FromGroup's committed offsets when another node
	// coordinates it (its front end asked that node); nil: FromGroup is
	// read here.
	FromOffsets Offsets

	// commit: a Kafka commit (StoreOffsets), which may name an offset
	// below the earliest kept, as a member's commit may (Kafka takes it;
	// a consumer resuming there is told OFFSET_OUT_OF_RANGE and resets).
	commit bool
}

// ResetResult is a group's offsets after a reset (DryRun: as they would
// be) and what changed, partition by partition, sorted.
type ResetResult struct {
	Offsets Offsets
	DryRun  bool
	Changes []OffsetChange
}

// OffsetChange is one partition a reset moves; -1 is no offset.
type OffsetChange struct {
	Topic     string
	Partition int32
	From, To  int64
}
