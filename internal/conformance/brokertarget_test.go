package conformance_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/conformance"
)

// The broker's own API keeps every consumer-group behaviour of the suite.
func TestBroker(t *testing.T) {
	conformance.Run(t, 0, func(t *testing.T) conformance.Target {
		return brokerTarget{conformance.StartCore(t)}
	})
}

// brokerTarget drives the broker directly: the suite's reference, what
// every front end must match.
type brokerTarget struct{ c *conformance.Core }

const host = "conformance"

func (b brokerTarget) CreateTopic(name string, partitions int32) error {
	_, err := b.c.Broker().CreateTopic(broker.TopicSpec{Name: name, Partitions: partitions})
	return err
}

func (b brokerTarget) AddPartitions(topic string, count int32) error {
	_, err := b.c.Broker().AddPartitions(topic, count)
	return err
}

func (b brokerTarget) DeleteTopic(name string) error { return b.c.Broker().DeleteTopic(name) }

func (b brokerTarget) Publish(topic string, recs ...conformance.Record) ([]broker.Position, error) {
	msgs := make([]broker.Message, len(recs))
	for i, r := range recs {
		msgs[i] = broker.Message{Key: r.Key, Value: r.Value, Partition: r.Partition}
		if !r.Timestamp.IsZero() {
			msgs[i].Timestamp = r.Timestamp.UnixMilli()
		}
		for k, v := range r.Headers {
			msgs[i].Headers = append(msgs[i].Headers, commitlog.Header{Key: k, Value: []byte(v)})
		}
	}
	return b.c.Broker().Publish(topic, msgs)
}

func (b brokerTarget) Read(topic string, partition int32, offset int64, max int) ([]conformance.Message, error) {
	res, err := b.c.Broker().Fetch(context.Background(), topic, broker.FetchRequest{Partition: partition, Offset: offset, MaxMessages: max, MaxBytes: 1 << 20})
	if err != nil {
		return nil, err
	}
	out := make([]conformance.Message, len(res.Records))
	for i := range res.Records {
		out[i] = message(broker.Delivered{Topic: topic, Partition: partition, Record: res.Records[i]})
	}
	return out, nil
}

func message(d broker.Delivered) conformance.Message {
	r := d.Record
	m := conformance.Message{Topic: d.Topic, Partition: d.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value,
		Timestamp: time.UnixMilli(r.Timestamp), DeliveryCount: d.DeliveryCount}
	if len(r.Headers) > 0 {
		m.Headers = make(map[string]string, len(r.Headers))
		for _, h := range r.Headers {
			m.Headers[h.Key] = string(h.Value)
		}
	}
	return m
}

func (b brokerTarget) Join(group string, p broker.JoinParams) (broker.JoinResult, error) {
	return b.c.Broker().JoinGroup(group, p, host)
}

func (b brokerTarget) Heartbeat(group string, p broker.HeartbeatParams) (broker.HeartbeatResult, error) {
	return b.c.Broker().Heartbeat(group, p, host)
}

func (b brokerTarget) Leave(group, memberID string) error {
	return b.c.Broker().LeaveGroup(group, memberID)
}

func (b brokerTarget) Poll(ctx context.Context, group string, p broker.PollParams) ([]conformance.Message, error) {
	got, err := b.c.Broker().Poll(ctx, group, p, host)
	out := make([]conformance.Message, len(got))
	for i := range got {
		out[i] = message(got[i])
	}
	return out, err
}

func (b brokerTarget) Ack(group string, s broker.Settle) (broker.SettleResult, error) {
	return b.c.Broker().Ack(group, s, host)
}

func (b brokerTarget) Nack(group string, p broker.NackParams) (broker.SettleResult, error) {
	return b.c.Broker().Nack(group, p, host)
}

func (b brokerTarget) Extend(group string, p broker.ExtendParams) (broker.SettleResult, error) {
	return b.c.Broker().Extend(group, p, host)
}

func (b brokerTarget) Commit(group string, p broker.CommitParams) error {
	return b.c.Broker().CommitOffsets(group, p, host)
}

func (b brokerTarget) Offsets(group string) (broker.Offsets, error) {
	return b.c.Broker().GroupOffsets(group)
}

func (b brokerTarget) Reset(group string, p broker.ResetParams) (broker.ResetResult, error) {
	return b.c.Broker().ResetOffsets(group, p)
}

func (b brokerTarget) DeleteGroup(group string) error { return b.c.Broker().DeleteGroup(group) }

func (b brokerTarget) Describe(group string) (broker.GroupDescription, error) {
	return b.c.Broker().DescribeGroup(group)
}

func (b brokerTarget) Restart() { b.c.Restart() }

// A target lacking every Feature runs the scenarios that need none (as a
// Kafka front end will), and they never call what it lacks.
func TestBrokerWithoutFeatures(t *testing.T) {
	all := conformance.Deliveries | conformance.Assignors | conformance.Resets | conformance.Restarts |
		conformance.SessionTimeouts | conformance.RebalanceStats
	conformance.Run(t, all, func(t *testing.T) conformance.Target {
		return lacking{brokerTarget{conformance.StartCore(t)}, t}
	})
}

// lacking is the broker offering no Feature: each call of a lacked
// operation fails the test.
type lacking struct {
	brokerTarget
	t *testing.T
}

func (l lacking) called(op string) error {
	l.t.Errorf("%s called on a target that lacks it", op)
	return errors.ErrUnsupported
}

func (l lacking) Join(group string, p broker.JoinParams) (broker.JoinResult, error) {
	if p.Assignor != "" {
		return broker.JoinResult{}, l.called("Join with an assignor")
	}
	if p.SessionTimeout != 0 {
		return broker.JoinResult{}, l.called("Join with a session timeout")
	}
	return l.brokerTarget.Join(group, p)
}

// Describe says no rebalances, so that a scenario reading them fails.
func (l lacking) Describe(group string) (broker.GroupDescription, error) {
	d, err := l.brokerTarget.Describe(group)
	d.Rebalances = broker.RebalanceStats{}
	return d, err
}

func (l lacking) Poll(context.Context, string, broker.PollParams) ([]conformance.Message, error) {
	return nil, l.called("Poll")
}

func (l lacking) Ack(string, broker.Settle) (broker.SettleResult, error) {
	return broker.SettleResult{}, l.called("Ack")
}

func (l lacking) Nack(string, broker.NackParams) (broker.SettleResult, error) {
	return broker.SettleResult{}, l.called("Nack")
}

func (l lacking) Extend(string, broker.ExtendParams) (broker.SettleResult, error) {
	return broker.SettleResult{}, l.called("Extend")
}

func (l lacking) Reset(string, broker.ResetParams) (broker.ResetResult, error) {
	return broker.ResetResult{}, l.called("Reset")
}

func (l lacking) Restart() { l.called("Restart") }
