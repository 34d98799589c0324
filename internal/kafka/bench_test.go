package kafka_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkKgo runs franz-go's client against GoQueue (the real binary) and
// against kfake, franz-go's own fake broker (in this process), with the
// same workload: one idempotent producer (kgo's defaults: snappy, acks all)
// of b.N 100-byte records to 6 partitions, then one consumer reading them
// back. It reports produce and consume msgs/s and the produce p99 (from
// Produce to its acknowledgement). Figures compare within one run only.
// Give a fixed count (-benchtime 3000000x): left to pick b.N itself, the
// benchmark runs each target with a different N, and the consumer's fixed
// start-up (metadata, offsets, first fetch) then weighs differently.
func BenchmarkKgo(b *testing.B) {
	targets := []struct {
		name  string
		seeds func(b *testing.B) string
	}{
		{"goqueue", func(b *testing.B) string {
			p := start(b)
			createTopic(b, p.client(b), "bench", 6)
			return p.Kafka
		}},
		{"kfake", func(b *testing.B) string {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "bench"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(c.Close)
			return c.ListenAddrs()[0]
		}},
	}
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			seed := tg.seeds(b)
			value := make([]byte, 100)
			prod, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.DefaultProduceTopic("bench"), kgo.ProducerLinger(time.Millisecond))
			if err != nil {
				b.Fatal(err)
			}
			defer prod.Close()
			ctx := context.Background()
			lat := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			b.ResetTimer()
			began := time.Now()
			for i := range b.N {
				wg.Add(1)
				at := time.Now()
				prod.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					lat[i] = time.Since(at)
					if err != nil {
						b.Error(err)
					}
					wg.Done()
				})
			}
			wg.Wait()
			produced := time.Since(began)
			cons, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.ConsumeTopics("bench"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				b.Fatal(err)
			}
			defer cons.Close()
			began = time.Now()
			for n := 0; n < b.N; {
				fs := cons.PollFetches(ctx)
				fs.EachError(func(_ string, _ int32, err error) { b.Fatal(err) })
				n += fs.NumRecords()
			}
			consumed := time.Since(began)
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/produced.Seconds(), "produce-msgs/s")
			b.ReportMetric(float64(b.N)/consumed.Seconds(), "consume-msgs/s")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "produce-p99-ms")
		})
	}
}
