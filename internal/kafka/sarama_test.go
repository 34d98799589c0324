package kafka_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// saramaHandler records the values a member consumes and marks them.
type saramaHandler struct {
	mu   *sync.Mutex
	seen map[string]bool
}

func (saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		h.seen[string(m.Value)] = true
		h.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

// sarama at its default protocol version and at its newest
// (sarama.MaxVersion): a sync producer (acks all), then two members of a
// classic group per balance strategy (range, roundrobin, sticky) consume
// every message between them.
func TestSaramaGroups(t *testing.T) {
	p := start(t)
	versions := map[string]sarama.KafkaVersion{"default": sarama.NewConfig().Version, "max": sarama.MaxVersion}
	for vname, version := range versions {
		t.Run(vname, func(t *testing.T) { saramaGroups(t, p, vname, version) })
	}
}

func saramaGroups(t *testing.T, p *proc, vname string, version sarama.KafkaVersion) {
	topic := "sar-" + vname
	createTopic(t, p.client(t), topic, 4)
	cfg := sarama.NewConfig()
	cfg.Version = version
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	prod, err := sarama.NewSyncProducer([]string{p.Kafka}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const n = 80
	for i := range n {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprint(i)), Value: sarama.StringEncoder(fmt.Sprintf("m%d", i))}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	strategies := map[string]sarama.BalanceStrategy{
		"range": sarama.NewBalanceStrategyRange(), "roundrobin": sarama.NewBalanceStrategyRoundRobin(), "sticky": sarama.NewBalanceStrategySticky(),
	}
	for name, strategy := range strategies {
		t.Run(name, func(t *testing.T) {
			gcfg := sarama.NewConfig()
			gcfg.Version = version
			gcfg.Consumer.Offsets.Initial = sarama.OffsetOldest
			gcfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{strategy}
			gcfg.Consumer.Group.Heartbeat.Interval = 300 * time.Millisecond
			gcfg.Consumer.Group.Session.Timeout = 6 * time.Second
			h := saramaHandler{mu: new(sync.Mutex), seen: map[string]bool{}}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			for range 2 {
				g, err := sarama.NewConsumerGroup([]string{p.Kafka}, "sarama-"+vname+"-"+name, gcfg)
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer g.Close()
					for ctx.Err() == nil {
						if err := g.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
							t.Errorf("consume: %v", err)
							return
						}
					}
				}()
			}
			testkit.Within(60*time.Second, func() bool {
				h.mu.Lock()
				defer h.mu.Unlock()
				return len(h.seen) == n || ctx.Err() != nil
			})
			cancel()
			wg.Wait()
			if len(h.seen) != n {
				t.Fatalf("%s: consumed %d of %d messages", name, len(h.seen), n)
			}
		})
	}
}
