package client_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// BenchmarkClient measures, against one broker in one run, publishing
// 100-byte messages with 1 and 4 producers and consuming them in a group
// with an ack each, over 6 partitions. msgs/s is the figure to compare.
func BenchmarkClient(b *testing.B) {
	srv := brokertest.Start(b)
	admin, err := client.New(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	value := bytes.Repeat([]byte("x"), 100)
	var topics atomic.Int64
	newTopic := func(b *testing.B) string {
		name := fmt.Sprintf("bench-%d", topics.Add(1))
		if _, err := admin.CreateTopic(ctx, api.CreateTopicRequest{Name: name, Partitions: 6}); err != nil {
			b.Fatal(err)
		}
		return name
	}
	publish := func(b *testing.B, topic string, producers, n int) {
		var wg sync.WaitGroup
		var failed atomic.Int64
		for i := range producers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := client.NewProducer(&client.ProducerConfig{Brokers: []string{srv.URL}})
				if err != nil {
					b.Error(err)
					return
				}
				defer p.Close()
				rec := &client.Record{Value: value}
				for j := i; j < n; j += producers {
					p.PublishAsync(ctx, topic, rec, func(_ client.Position, err error) {
						if err != nil {
							failed.Add(1)
						}
					})
				}
				if err := p.Flush(ctx); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			b.Fatalf("%d publishes failed", failed.Load())
		}
	}
	for _, producers := range []int{1, 4} {
		b.Run(fmt.Sprintf("produce/producers=%d", producers), func(b *testing.B) {
			topic := newTopic(b)
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			publish(b, topic, producers, b.N)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
	for _, transport := range []string{"stream", "poll"} {
		b.Run("consume-ack/"+transport, func(b *testing.B) {
			topic := newTopic(b)
			publish(b, topic, 4, b.N)
			cons, err := client.NewConsumer(&client.ConsumerConfig{
				Brokers: []string{srv.URL}, GroupID: topic, Topics: []string{topic},
				PollWait: 100 * time.Millisecond, MaxInFlight: 10000, NoStream: transport == "poll",
			})
			if err != nil {
				b.Fatal(err)
			}
			defer cons.Close()
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for got := 0; got < b.N; {
				msgs, err := cons.Poll(ctx, 5000)
				if err != nil {
					b.Fatal(err)
				}
				for _, m := range msgs {
					if err := cons.Ack(m); err != nil {
						b.Fatal(err)
					}
				}
				got += len(msgs)
			}
			if err := cons.CommitAll(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
