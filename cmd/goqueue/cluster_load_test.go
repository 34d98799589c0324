package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// loadedCluster is three nodes (no Kafka listener) with a topic of
// replication factor 3 (fsync never) and a producer to every node: the
// memory tests' load.
type loadedCluster struct {
	*clusterProcs
	p    *client.Producer
	load string // the topic
	seq  int    // records published so far; one goroutine publishes at a time
}

func startLoadedCluster(t *testing.T, topic string, partitions int) *loadedCluster {
	t.Helper()
	c := startClusterProcsWith(t, 3, clusterSetup{flags: []string{"--kafka-addr", ""}})
	all := []uint64{1, 2, 3}
	c.agree(all, 0, map[uint64]uint64{}, 30*time.Second)
	c.eventually(30*time.Second, "the topic is created", func() bool {
		body := fmt.Sprintf(`{"name":%q,"partitions":%d,"fsync":"never","replication_factor":3}`, topic, partitions)
		st := c.do(1, "POST", "/topics", body, nil)
		return st == http.StatusCreated || st == http.StatusConflict
	})
	var urls []string
	for _, id := range all {
		urls = append(urls, c.procs[id].URL)
		c.topic(id, topic)
	}
	p, err := client.NewProducer(&client.ProducerConfig{Brokers: urls, Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &loadedCluster{clusterProcs: c, p: p, load: topic}
}

// publish writes n records of 1 KiB, distinct so that nothing compresses
// or dedupes them, keyed to spread over the partitions, and waits for
// their acknowledgements.
func (l *loadedCluster) publish(ctx context.Context, n int) error {
	var failed atomic.Pointer[error]
	for range n {
		v := make([]byte, 1<<10)
		key := strconv.Itoa(l.seq)
		copy(v, key)
		l.seq++
		l.p.PublishAsync(ctx, l.load, &client.Record{Key: []byte(key), Value: v}, func(_ client.Position, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := l.p.Flush(ctx); err != nil {
		return err
	}
	if err := failed.Load(); err != nil {
		return *err
	}
	return nil
}

// envCount is the positive number environment variable name gives, or def.
func envCount(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}
