package kafka_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kgo consumers with server-side assignment (KIP-848) are members of the
// broker's own coordinator: two of them share a topic, every record is
// consumed, and their commits are the group's offsets.
func TestKgoServerSideGroup(t *testing.T) {
	p := start(t, "--heartbeat-interval", "300ms", "--min-session-timeout", "1s")
	admin := p.client(t)
	createTopic(t, admin, "kip848", 4)
	produceN(t, admin, "kip848", "x", 200)
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	// The member that sees the last record ends the other's poll, which
	// would otherwise wait for records that never come.
	ctx, done := context.WithTimeout(context.Background(), 60*time.Second)
	defer done()
	for _, name := range []string{"m1", "m2"} {
		cl := p.client(t, kgo.ConsumerGroup("next-gen"), kgo.ConsumeTopics("kip848"), kgo.ServerSideBalancer(),
			kgo.ClientID(name), kgo.FetchMaxWait(300*time.Millisecond))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if ctx.Err() != nil {
					return
				}
				fs := cl.PollFetches(ctx)
				fs.EachError(func(topic string, p int32, err error) {
					if ctx.Err() == nil {
						t.Errorf("%s: fetch %s/%d: %v", name, topic, p, err)
					}
				})
				mu.Lock()
				for _, r := range fs.Records() {
					seen[string(r.Value)] = true
				}
				if len(seen) >= 200 {
					done()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 200 {
		t.Fatalf("consumed %d of 200 records", len(seen))
	}
	st, body := httpDo(t, p, "GET", "/groups/next-gen", "")
	if st != 200 {
		t.Fatalf("GET /groups/next-gen: %d %s", st, body)
	}
}
