package crashtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/abd-ulbasit/goqueue/api"
)

// producer publishes its own numbered messages, one request at a time, each
// either a single message or a batch, over a few keys of its own, so that
// its sequence lands in known partitions in a known order. Its fields are
// touched only by the goroutine running it (one epoch at a time).
type producer struct {
	id    int
	keys  []string // this producer's keys
	parts []int32  // parts[i] = api.KeyPartition(keys[i], partitions)
	next  int      // next sequence number; never reused
	rng   *rand.Rand
	led   *ledger
	topic string
}

func newProducer(id int, seed uint64, topic string, partitions int32, led *ledger) *producer {
	p := &producer{id: id, rng: rand.New(rand.NewPCG(seed, uint64(id))), led: led, topic: topic}
	for k := range 3 {
		key := fmt.Sprintf("producer-%d-key-%d", id, k)
		p.keys = append(p.keys, key)
		p.parts = append(p.parts, api.KeyPartition([]byte(key), partitions))
	}
	return p
}

// run publishes until ctx ends or the broker stops answering. It returns an
// error only for an answer that breaks the contract: a non-2xx to a valid
// publish, or offsets that do not match the request.
func (p *producer) run(ctx context.Context, c *client) error {
	for ctx.Err() == nil {
		n := 1
		if p.rng.IntN(2) == 0 {
			n = 2 + p.rng.IntN(30)
		}
		ids := make([]msgID, n)
		parts := make([]int32, n)
		msgs := make([]api.PublishMessage, n)
		for i := range n {
			k := p.rng.IntN(len(p.keys))
			ids[i] = msgID{Producer: p.id, Seq: p.next}
			p.next++
			parts[i] = p.parts[k]
			v, _ := json.Marshal(ids[i])
			msgs[i] = api.PublishMessage{Key: &p.keys[k], Value: v}
		}
		req := api.PublishRequest{Messages: msgs}
		if n == 1 {
			req = api.PublishRequest{PublishMessage: msgs[0]}
		}
		p.led.send(ids, parts)
		var resp api.PublishResponse
		err := c.call(ctx, "POST", "/topics/"+p.topic+"/messages", req, &resp)
		if errors.Is(err, errGone) {
			return nil // killed under us: these messages stay unacknowledged
		}
		if err != nil {
			return fmt.Errorf("producer %d: %w", p.id, err)
		}
		if len(resp.Offsets) != n {
			return fmt.Errorf("producer %d: %d messages published, %d offsets answered", p.id, n, len(resp.Offsets))
		}
		offs := make([]int64, n)
		for i, r := range resp.Offsets {
			if r.Partition != parts[i] {
				return fmt.Errorf("producer %d: %v went to partition %d, its key maps to %d", p.id, ids[i], r.Partition, parts[i])
			}
			offs[i] = r.Offset
		}
		p.led.ack(ids, offs)
	}
	return nil
}
