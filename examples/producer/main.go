// Command producer publishes orders to the "orders" topic of a broker on
// localhost:8080 (creating the topic if needed), keyed by customer so that
// each customer's orders stay in order on one partition. Run the broker
// (`goqueue`), then this, then examples/consumer-group to process them.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	admin, err := client.New("localhost:8080")
	if err != nil {
		log.Fatal(err)
	}
	_, err = admin.CreateTopic(ctx, api.CreateTopicRequest{Name: "orders", Partitions: 3})
	if err != nil && !errors.Is(err, api.ErrTopicExists) {
		log.Fatal(err)
	}

	producer, err := client.NewProducer(&client.ProducerConfig{
		Brokers: []string{"localhost:8080"},
		Linger:  5 * time.Millisecond, // gather records for up to 5 ms per request
	})
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()

	// One synchronous publish: it returns once the broker has written it.
	pos, err := producer.Publish(ctx, "orders", &client.Record{
		Key:   []byte("customer-1"),
		Value: []byte(`{"order":0,"customer":"customer-1"}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("first order at partition %d offset %d", pos.Partition, pos.Offset)

	// Many asynchronous publishes: batched, with a callback each.
	const orders = 1000
	var failed atomic.Int64
	for i := 1; i <= orders; i++ {
		customer := fmt.Sprintf("customer-%d", i%10)
		producer.PublishAsync(ctx, "orders", &client.Record{
			Key:     []byte(customer),
			Value:   []byte(fmt.Sprintf(`{"order":%d,"customer":%q}`, i, customer)),
			Headers: []client.Header{{Key: "source", Value: []byte("example")}},
		}, func(_ client.Position, err error) {
			if err != nil {
				failed.Add(1)
				log.Printf("publish failed: %v", err)
			}
		})
	}
	if err := producer.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	log.Printf("published %d orders (%d failed)", orders+1, failed.Load())
}
