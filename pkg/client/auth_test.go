package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// Against a broker that requires an API key, every kind of client works with
// the key and gets UNAUTHORIZED without it.
func TestAPIKey(t *testing.T) {
	const key = "a-test-key-of-enough-length"
	srv := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.APIKeys = []string{key} }))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	anon, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Topics(ctx); !errors.Is(err, api.ErrUnauthorized) {
		t.Fatalf("without a key: err = %v, want UNAUTHORIZED", err)
	}
	admin, err := client.NewWithConfig(&client.Config{Brokers: []string{srv.URL}, APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateTopic(ctx, api.CreateTopicRequest{Name: "orders", Partitions: 2}); err != nil {
		t.Fatal(err)
	}

	p, err := client.NewProducer(&client.ProducerConfig{Brokers: []string{srv.URL}, APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Publish(ctx, "orders", &client.Record{Value: []byte("hello")}); err != nil {
		t.Fatalf("producer with the key: %v", err)
	}

	c, err := client.NewConsumer(&client.ConsumerConfig{
		Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}, APIKey: key,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for {
		msgs, err := c.Poll(ctx, 10)
		if err != nil {
			t.Fatalf("consumer with the key: %v", err)
		}
		if len(msgs) > 0 {
			if string(msgs[0].Value) != "hello" {
				t.Fatalf("got %q", msgs[0].Value)
			}
			if err := c.Ack(msgs[0]); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}
