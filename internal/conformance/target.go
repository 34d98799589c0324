// Package conformance owns the consumer-group behaviour every front end must
// keep: one suite of scenarios (retries and the dead letter queue,
// visibility timeouts, static members, offset reset, handoff, fencing, ...)
// that runs against any Target, a front end driving a broker. It runs on
// the broker's own API, over HTTP (internal/httpapi) and over Kafka's wire
// protocol (kafkatarget_test.go, driving internal/kafka) to prove that
// each wire mapping keeps the semantics.
//
// It owns no broker state and tests no wire details: statuses, body shapes
// and the refusal of bad bodies belong to each front end's own tests. The
// scenarios run in a testing/synctest bubble, so a Target must do no real
// network I/O (call a handler directly, or use net.Pipe) and time is the
// bubble's fake clock: the suite sleeps through session and visibility
// timeouts in no real time.
package conformance

import (
	"context"
	"strings"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// Target is a front end over one running broker, seen as its clients see
// it: topics, publishing, reading a partition, and the consumer-group
// operations in the broker's own vocabulary (broker.JoinParams and so on).
// Errors are the coded *api.Error of the one error table (errors.Is works on
// them), whatever the wire said. Methods are called from the test's
// goroutine, except Poll, which the suite may also call from a goroutine of
// the bubble.
type Target interface {
	CreateTopic(name string, partitions int32) error
	AddPartitions(topic string, count int32) error // count: the new total
	DeleteTopic(name string) error
	// Publish appends records and says where each landed, in order.
	Publish(topic string, recs ...Record) ([]broker.Position, error)
	// Read reads up to max messages of a partition from offset, as a plain
	// fetch (no group): the suite reads dead-letter topics with it.
	Read(topic string, partition int32, offset int64, max int) ([]Message, error)

	Join(group string, p broker.JoinParams) (broker.JoinResult, error)
	Heartbeat(group string, p broker.HeartbeatParams) (broker.HeartbeatResult, error)
	Leave(group, memberID string) error
	Poll(ctx context.Context, group string, p broker.PollParams) ([]Message, error)
	// Ack, Nack and Extend answer the per-message result also when they
	// fail: the error is then the first failure's.
	Ack(group string, s broker.Settle) (broker.SettleResult, error)
	Nack(group string, p broker.NackParams) (broker.SettleResult, error)
	Extend(group string, p broker.ExtendParams) (broker.SettleResult, error)
	Commit(group string, p broker.CommitParams) error
	Offsets(group string) (broker.Offsets, error)
	Reset(group string, p broker.ResetParams) (broker.ResetResult, error)
	DeleteGroup(group string) error
	// Describe answers at least ID, State, Generation, Assignor, Members
	// (MemberID, Assigned, Idle, InFlight), Partitions (all of
	// PartitionStatus), Lag and, unless the target lacks RebalanceStats,
	// Rebalances (Count, ByReason, Recent: Generation, Reason, Moved).
	Describe(group string) (broker.GroupDescription, error)

	// Restart stops the broker and opens it again on the same data, as a
	// process restart does; it fails the test if it cannot.
	Restart()
}

// Feature is a part of Target that a front end may not offer. The Target
// interface is whole, so that every front end says every operation; one
// that cannot (Kafka's consumers fetch and commit offsets, they do not ack
// messages) names what it lacks to Run, and the scenarios that need it are
// skipped, never run half.
type Feature uint8

const (
	// Deliveries is per-message delivery: Poll with its in-flight tracking
	// and delivery counts, Ack, Nack and Extend. Scenarios that only need a
	// member to read from its group's position and move it on do so
	// without, as a Kafka consumer does: Read from the committed offsets,
	// then Commit (see member.consume and member.done).
	Deliveries Feature = 1 << iota
	// Assignors is a join's choice of assignor (range, roundrobin, sticky:
	// the eager ones) being honoured.
	Assignors
	// Resets is Reset of an empty group's offsets.
	Resets
	// Restarts is Restart.
	Restarts
	// SessionTimeouts is a join's choice of its session timeout. Kafka's
	// KIP-848 members have the broker's.
	SessionTimeouts
	// RebalanceStats is Describe's Rebalances: counts by reason and the
	// recent rebalances with what moved. Kafka's describe says none.
	RebalanceStats
)

var featureNames = [...]string{"Deliveries", "Assignors", "Resets", "Restarts", "SessionTimeouts", "RebalanceStats"}

// String names the features in f, joined by "|".
func (f Feature) String() string {
	var names []string
	for i, n := range featureNames {
		if f&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, "|")
}

// limited is a Target with the Features it lacks, as scenarios see it.
type limited struct {
	Target
	lacks Feature
}

// lacks reports whether tg lacks any of f.
func lacks(tg Target, f Feature) bool {
	l, ok := tg.(limited)
	return ok && l.lacks&f != 0
}

// Record is a message to publish. Partition is a partition number or
// broker.AnyPartition; a zero Timestamp is the broker's clock.
type Record struct {
	Key, Value []byte
	Headers    map[string]string
	Partition  int32
	Timestamp  time.Time
}

// Message is a stored message as a fetch or a group poll answers it.
// Headers are text to text, as every front end can say them; DeliveryCount
// is set by polls only.
type Message struct {
	Topic         string
	Partition     int32
	Offset        int64
	Key, Value    []byte
	Headers       map[string]string
	Timestamp     time.Time
	DeliveryCount int
}

// Ref names m.
func (m Message) Ref() broker.MessageRef {
	return broker.MessageRef{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
}
