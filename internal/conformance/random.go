package conformance

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// Consumers whose handlers ack, nack, reject, hang or die at random: every
// message ends acknowledged exactly once or in the DLQ with headers that
// say why, and nothing is lost. The seed is logged; the bubble's clock
// makes a run with one seed repeat exactly.
func randomHandlersLoseNothing(t *testing.T, tg Target) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	createTopic(t, tg, "orders", 4)
	const n = 200
	publishSpread(t, tg, "orders", n)
	req := func(id string) broker.JoinParams {
		return broker.JoinParams{MemberID: id, Topics: []string{"orders"}, SessionTimeout: time.Second,
			MaxRetries: 2, VisibilityTimeout: 150 * time.Millisecond}
	}
	live := []*member{join(t, tg, "g", req("c0")), join(t, tg, "g", req("c1")), join(t, tg, "g", req("c2"))}
	acked := map[broker.MessageRef]bool{}
	died := 0
	deadline := time.Now().Add(10 * time.Minute)
	for describe(t, tg, "g").Lag != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("not done after 10 minutes: %+v", describe(t, tg, "g"))
		}
		for i := 0; i < len(live); i++ {
			m := live[i]
			m.heartbeat()
			msgs := m.poll(10, 10*time.Millisecond)
			if len(msgs) > 0 && died < 2 && rng.IntN(6) == 0 {
				// The process dies holding msgs: no more heartbeats.
				died++
				live = slices.Delete(live, i, i+1)
				live = append(live, join(t, tg, "g", req(fmt.Sprintf("c%d", 2+died))))
				i--
				continue
			}
			for _, msg := range msgs {
				switch r := rng.IntN(10); {
				case r < 6:
					if _, err := tg.Ack("g", m.settle(msg)); err == nil {
						if acked[msg.Ref()] {
							t.Fatalf("%v acknowledged twice", msg.Ref())
						}
						acked[msg.Ref()] = true
					}
				case r < 8:
					tg.Nack("g", broker.NackParams{Settle: m.settle(msg), Reason: "handler failed", Delay: time.Millisecond})
				case r == 9:
					tg.Nack("g", broker.NackParams{Settle: m.settle(msg), Reason: "poison", Reject: true})
				default:
					// The handler hangs: the visibility timeout redelivers.
				}
			}
		}
	}
	dead := map[broker.MessageRef]bool{}
	for p := range int32(4) {
		letters, err := tg.Read(api.DLQName("orders"), p, 0, n)
		if err != nil && !errors.Is(err, api.ErrTopicNotFound) {
			t.Fatalf("read DLQ partition %d: %v", p, err)
		}
		for _, d := range letters {
			h := d.Headers
			off, _ := strconv.ParseInt(h[api.DLQHeaderOriginalOffset], 10, 64)
			ref := broker.MessageRef{Topic: h[api.DLQHeaderOriginalTopic], Partition: p, Offset: off}
			// Three failures (max_retries 2) dead-letter a message; a handoff
			// (its holder died) adds a delivery but no failure.
			count, _ := strconv.Atoi(h[api.DLQHeaderDeliveryCount])
			maxed := h[api.DLQHeaderReason] == "max_retries_exceeded" && count >= 3 &&
				(h[api.DLQHeaderLastError] == "handler failed" || h[api.DLQHeaderLastError] == "visibility_timeout")
			rejected := h[api.DLQHeaderReason] == "rejected" && h[api.DLQHeaderLastError] == "poison"
			if h[api.DLQHeaderGroup] != "g" || !(maxed || rejected) || ref.Topic != "orders" ||
				h[api.DLQHeaderOriginalPartition] != strconv.Itoa(int(p)) {
				t.Fatalf("dead letter headers %v", h)
			}
			if acked[ref] || dead[ref] {
				t.Fatalf("%v settled twice (acked %v)", ref, acked[ref])
			}
			dead[ref] = true
		}
	}
	if len(acked)+len(dead) != n {
		t.Fatalf("%d acked + %d dead-lettered, want %d", len(acked), len(dead), n)
	}
	t.Logf("%d acked, %d dead-lettered, %d consumers died", len(acked), len(dead), died)
}
