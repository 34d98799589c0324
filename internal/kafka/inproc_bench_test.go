package kafka

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// BenchmarkProduceInProcess runs the listener and broker in this process,
// so a CPU profile of it shows the front end's own costs.
func BenchmarkProduceInProcess(b *testing.B) {
	cfg := broker.DefaultConfig()
	cfg.DataDir = b.TempDir()
	cfg.Logger = slog.New(slog.DiscardHandler)
	br, err := broker.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := br.CreateTopic(broker.TopicSpec{Name: "bench", Partitions: 6}); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := New(br, Options{})
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		<-done
		br.Close()
	}()
	prod, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()), kgo.DefaultProduceTopic("bench"), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	value := make([]byte, 100)
	var wg sync.WaitGroup
	b.ResetTimer()
	for range b.N {
		wg.Add(1)
		prod.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
}
