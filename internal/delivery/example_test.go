package delivery_test

import (
	"fmt"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// The broker's side of one group: restore, poll, settle, expire, hand off.
func Example() {
	now := time.Date(2026, 11, 24, 22, 0, 0, 0, time.UTC)
	orders0 := delivery.TP{Topic: "orders", Partition: 0}
	hwm := func(delivery.TP) int64 { return 4 } // from the log
	g := delivery.NewGroup(delivery.Config{MaxRetries: 1})
	g.Restore(orders0, 0, nil) // committed offset from the offset store

	for _, d := range g.Poll(nil, now, "a", []delivery.TP{orders0}, 3, hwm) {
		fmt.Println("a got", d.Offset, "delivery", d.DeliveryCount)
	}
	_ = g.Ack("a", orders0, 0)
	o, _ := g.Nack(now, "a", orders0, 1, delivery.NackOptions{Reason: "db down"})
	fmt.Println("offset 1 retries at +", o.RetryAt.Sub(now))

	// a loses the partition: offset 2 goes to b at once, its second delivery
	// (a handoff spends none of the retry budget).
	g.Release("a", orders0)
	now = now.Add(time.Second)
	for _, d := range g.Poll(nil, now, "b", []delivery.TP{orders0}, 10, hwm) {
		fmt.Println("b got", d.Offset, "delivery", d.DeliveryCount)
	}
	o, _ = g.Nack(now, "b", orders0, 1, delivery.NackOptions{Reason: "db still down"})
	fmt.Printf("offset 1 dead: %+v\n", o.Letter)
	// ... the broker writes orders.dlq, then:
	_ = g.DeadLettered(orders0, 1)
	_ = g.Ack("b", orders0, 2)
	c, _ := g.Committed(orders0)
	fmt.Println("committed", c)

	// Offset 3 is never acknowledged: its visibility timeout redelivers it.
	g.Tick(now.Add(30 * time.Second))
	fmt.Println(g.Poll(nil, now.Add(30*time.Second), "b", []delivery.TP{orders0}, 10, hwm))
	// Output:
	// a got 0 delivery 1
	// a got 1 delivery 1
	// a got 2 delivery 1
	// offset 1 retries at + 100ms
	// b got 2 delivery 2
	// b got 1 delivery 2
	// b got 3 delivery 1
	// offset 1 dead: {TP:{Topic:orders Partition:0} Offset:1 DeliveryCount:2 Reason:max_retries_exceeded LastError:db still down}
	// committed 3
	// [{{orders 0} 3 2}]
}
