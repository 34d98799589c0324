package client_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestNilArgumentsAreErrors: a nil config or record is a mistake the
// constructors and Publish answer with an error, as they answer a zero
// config, rather than a nil-pointer panic in the caller's process.
func TestNilArgumentsAreErrors(t *testing.T) {
	srv, _ := setup(t, "t", 1)
	p := newProducer(t, srv.URL, client.ProducerConfig{})
	tests := []struct {
		name string
		call func() error
		want error // nil: any error
	}{
		{"NewConsumer(nil)", func() error { _, err := client.NewConsumer(nil); return err }, nil},
		{"NewProducer(nil)", func() error { _, err := client.NewProducer(nil); return err }, client.ErrNoBrokers},
		{"NewWithConfig(nil)", func() error { _, err := client.NewWithConfig(nil); return err }, client.ErrNoBrokers},
		{"Publish(nil)", func() error { _, err := p.Publish(context.Background(), "t", nil); return err }, nil},
		{"PublishAsync(nil)", func() error {
			ch := make(chan error, 1)
			p.PublishAsync(context.Background(), "t", nil, func(_ client.Position, err error) { ch <- err })
			return <-ch
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("got %v, want an error (%v)", err, tt.want)
			}
		})
	}
}

// TestPollRefusesNegativeMaxMessages: a negative count is refused the same
// way whatever carries the messages. On the stream it was taken for no
// bound and Poll returned every message ready; over HTTP the broker
// refused it.
func TestPollRefusesNegativeMaxMessages(t *testing.T) {
	srv, _ := setup(t, "orders", 1)
	produce(t, srv.URL, "orders", 5)
	for _, noStream := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoStream=%v", noStream), func(t *testing.T) {
			c := startConsumer(t, client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: t.Name(), Topics: []string{"orders"}, NoStream: noStream})
			pollOne(t, c) // joined, the rest ready
			msgs, err := c.Poll(context.Background(), -1)
			if !errors.Is(err, api.ErrInvalidArgument) || len(msgs) != 0 {
				t.Fatalf("Poll(-1) = %d messages, %v; want none, INVALID_ARGUMENT", len(msgs), err)
			}
		})
	}
}

// TestNackWithRefusesContradictoryOptions: a negative Delay went to the
// broker over HTTP, which refused the whole acknowledgement request with
// it (the acknowledgements it carried included), while the stream took it
// for 0; a Delay without Requeue dead-lettered the message the caller
// meant to retry later. Both are refused at once, and the message stays
// held for the next decision.
func TestNackWithRefusesContradictoryOptions(t *testing.T) {
	srv, _ := setup(t, "orders", 1)
	produce(t, srv.URL, "orders", 1)
	c := newConsumer(t, client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "billing", Topics: []string{"orders"}})
	m := pollOne(t, c)
	for _, tt := range []struct {
		name string
		opts client.NackOptions
	}{
		{"negative Delay", client.NackOptions{Requeue: true, Delay: -time.Second}},
		{"Delay without Requeue", client.NackOptions{Delay: time.Minute, Reason: "retry later"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.NackWith(m, tt.opts); !errors.Is(err, api.ErrInvalidArgument) {
				t.Fatalf("NackWith = %v, want INVALID_ARGUMENT", err)
			}
		})
	}
	if err := c.Commit(m); err != nil {
		t.Fatalf("the message was not held any more: %v", err)
	}
}

// TestNamesThatAreNoPathSegment: a topic or group named "", "." or ".."
// made a request path that names no route, and the broker answered
// NOT_FOUND "no route", which neither api.ErrInvalidTopicName nor
// api.ErrTopicNotFound (nor the group's) matches. They are refused with
// the code the broker gives such a name in a request body.
func TestNamesThatAreNoPathSegment(t *testing.T) {
	srv, admin := setup(t, "t", 1)
	p := newProducer(t, srv.URL, client.ProducerConfig{})
	ctx := context.Background()
	topicCalls := []struct {
		name string
		call func(topic string) error
	}{
		{"Topic", func(n string) error { _, err := admin.Topic(ctx, n); return err }},
		{"DeleteTopic", func(n string) error { return admin.DeleteTopic(ctx, n) }},
		{"AddPartitions", func(n string) error { _, err := admin.AddPartitions(ctx, n, 2); return err }},
		{"AlterTopic", func(n string) error { _, err := admin.AlterTopic(ctx, n, api.AlterTopicRequest{}); return err }},
		{"Publish", func(n string) error {
			_, err := admin.Publish(ctx, n, api.PublishMessage{Value: []byte(`"v"`)})
			return err
		}},
		{"Fetch", func(n string) error { _, _, err := admin.Fetch(ctx, n, 0, client.FetchOptions{}); return err }},
		{"ReplayDLQ", func(n string) error { _, err := admin.ReplayDLQ(ctx, n, api.DLQReplayRequest{}); return err }},
		{"PurgeDLQ", func(n string) error { return admin.PurgeDLQ(ctx, n) }},
		{"Producer.Publish", func(n string) error { _, err := p.Publish(ctx, n, &client.Record{Value: []byte("v")}); return err }},
	}
	groupCalls := []struct {
		name string
		call func(group string) error
	}{
		{"Group", func(n string) error { _, err := admin.Group(ctx, n); return err }},
		{"GroupOffsets", func(n string) error { _, err := admin.GroupOffsets(ctx, n); return err }},
		{"ResetOffsets", func(n string) error { _, err := admin.ResetOffsets(ctx, n, api.ResetOffsetsRequest{}); return err }},
		{"DeleteGroup", func(n string) error { return admin.DeleteGroup(ctx, n) }},
		{"NewConsumer", func(n string) error {
			_, err := client.NewConsumer(&client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: n, Topics: []string{"t"}})
			return err
		}},
	}
	for _, name := range []string{"", ".", ".."} {
		for _, tt := range topicCalls {
			t.Run(fmt.Sprintf("%s(%q)", tt.name, name), func(t *testing.T) {
				if err := tt.call(name); !errors.Is(err, api.ErrInvalidTopicName) {
					t.Fatalf("got %v, want INVALID_TOPIC_NAME", err)
				}
			})
		}
		for _, tt := range groupCalls {
			if tt.name == "NewConsumer" && name == "" {
				continue // refused as a missing field
			}
			t.Run(fmt.Sprintf("%s(%q)", tt.name, name), func(t *testing.T) {
				if err := tt.call(name); !errors.Is(err, api.ErrInvalidGroupID) {
					t.Fatalf("got %v, want INVALID_ARGUMENT (group ID)", err)
				}
			})
		}
	}
}
