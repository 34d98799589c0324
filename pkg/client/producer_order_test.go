package client_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestProducerRandomSendsReadBackInOrder is a property test of the
// producer's encoding and ordering: random records (explicit partitions,
// keys, keyless; headers; explicit and zero timestamps; sizes that seal
// batches early) published by several goroutines at once are read back
// with the same key, value, headers and timestamp, each callback runs
// once with where its record landed, and every publisher's records of a
// partition are stored and answered in the order it published them.
func TestProducerRandomSendsReadBackInOrder(t *testing.T) {
	const parts, publishers, perPublisher = 5, 3, 700
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			topic := fmt.Sprint("random-", seed)
			srv, c := setup(t, topic, parts)
			p := newProducer(t, srv.URL, client.ProducerConfig{Linger: time.Millisecond, BatchBytes: 2048, MaxInFlight: 4})
			ctx := context.Background()

			type sent struct {
				rec   *client.Record
				pub   int
				pos   client.Position
				calls int
			}
			var (
				mu   sync.Mutex
				all  = make(map[string]*sent) // by value
				errs []error
				// answered is, per publisher and partition, the offsets
				// its callbacks reported, in the order they ran.
				answered = make(map[[2]int32][]int64)
			)
			start := time.Now().UnixMilli()
			var wg sync.WaitGroup
			byPub := make([][]*client.Record, publishers)
			for pub := range publishers {
				rng := rand.New(rand.NewPCG(seed, uint64(pub)))
				recs := make([]*client.Record, perPublisher)
				for i := range recs {
					r := &client.Record{Value: []byte(fmt.Sprintf("p%d-%d-%s", pub, i, bytes.Repeat([]byte("x"), rng.IntN(300))))}
					switch rng.IntN(3) {
					case 0:
						part := rng.Int32N(parts)
						r.Partition = &part
					case 1:
						r.Key = []byte(fmt.Sprint("k", rng.IntN(20)))
					}
					for h := range rng.IntN(3) {
						r.Headers = append(r.Headers, client.Header{Key: fmt.Sprint("h", h), Value: []byte(fmt.Sprint(rng.Int()))})
					}
					if rng.IntN(2) == 0 {
						r.Timestamp = time.UnixMilli(1_600_000_000_000 + rng.Int64N(1e9))
					}
					recs[i] = r
					all[string(r.Value)] = &sent{rec: r, pub: pub}
				}
				byPub[pub] = recs
			}
			for _, recs := range byPub {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for _, r := range recs {
						s := all[string(r.Value)]
						p.PublishAsync(ctx, topic, r, func(at client.Position, err error) {
							mu.Lock()
							defer mu.Unlock()
							s.calls++
							if err != nil {
								errs = append(errs, err)
								return
							}
							s.pos = at
							k := [2]int32{int32(s.pub), at.Partition}
							answered[k] = append(answered[k], at.Offset)
						})
					}
				}()
			}
			wg.Wait()
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			end := time.Now().UnixMilli()
			mu.Lock()
			defer mu.Unlock()
			if len(errs) > 0 {
				t.Fatalf("publish errors: %v", errs[:min(3, len(errs))])
			}
			for k, offs := range answered {
				for i := 1; i < len(offs); i++ {
					if offs[i] <= offs[i-1] {
						t.Fatalf("publisher %d partition %d: callback of offset %d after %d", k[0], k[1], offs[i], offs[i-1])
					}
				}
			}
			got := readAll(t, c, topic)
			lastIndex := make(map[[2]int32]int) // publisher, partition → index of its last record read
			total := 0
			for part, msgs := range got {
				for _, m := range msgs {
					total++
					s := all[string(m.Value)]
					if s == nil {
						t.Fatalf("read %q, never published", m.Value)
					}
					if s.calls != 1 || s.pos != (client.Position{Partition: part, Offset: m.Offset}) {
						t.Fatalf("%s at %d/%d: %d callbacks, the last with %+v", m.Value, part, m.Offset, s.calls, s.pos)
					}
					r := s.rec
					switch {
					case r.Partition != nil && *r.Partition != part:
						t.Fatalf("%s asked for partition %d, landed on %d", m.Value, *r.Partition, part)
					case r.Key != nil && api.KeyPartition(r.Key, parts) != part:
						t.Fatalf("%s with key %s landed on %d", m.Value, r.Key, part)
					}
					if !bytes.Equal(m.Key, r.Key) || (m.Key == nil) != (r.Key == nil) {
						t.Fatalf("%s: key %q, want %q", m.Value, m.Key, r.Key)
					}
					if len(m.Headers) != len(r.Headers) {
						t.Fatalf("%s: headers %v, want %v", m.Value, m.Headers, r.Headers)
					}
					for _, h := range r.Headers {
						if m.Headers[h.Key] != string(h.Value) {
							t.Fatalf("%s: headers %v, want %v", m.Value, m.Headers, r.Headers)
						}
					}
					ms := m.Timestamp.UnixMilli()
					if r.Timestamp.IsZero() {
						if ms < start || ms > end {
							t.Fatalf("%s: timestamp %d outside the publish, [%d, %d]", m.Value, ms, start, end)
						}
					} else if ms != r.Timestamp.UnixMilli() {
						t.Fatalf("%s: timestamp %d, want %d", m.Value, ms, r.Timestamp.UnixMilli())
					}
					var pub, i int
					fmt.Sscanf(string(m.Value), "p%d-%d-", &pub, &i)
					k := [2]int32{int32(pub), part}
					if prev, ok := lastIndex[k]; ok && prev >= i {
						t.Fatalf("publisher %d partition %d: record %d stored after %d", pub, part, i, prev)
					}
					lastIndex[k] = i
				}
			}
			if total != publishers*perPublisher {
				t.Fatalf("read %d records, published %d", total, publishers*perPublisher)
			}
		})
	}
}
