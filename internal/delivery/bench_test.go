package delivery

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkPollAck measures one Poll of batch messages followed by an Ack of
// each, the steady state of a consumer that keeps up. ns/msg is the cost per
// message the broker pays in this layer.
func BenchmarkPollAck(b *testing.B) {
	for _, parts := range []int{1, 6} {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("partitions=%d/batch=%d", parts, batch), func(b *testing.B) {
				owned := make([]TP, parts)
				for i := range owned {
					owned[i] = TP{"orders", int32(i)}
				}
				end := func(TP) int64 { return 1 << 62 }
				g := NewGroup(Config{})
				now := t0
				var ds []Delivery
				b.ReportAllocs()
				for b.Loop() {
					now = now.Add(time.Microsecond)
					ds = g.Poll(ds[:0], now, "m", owned, batch, end)
					for _, d := range ds {
						if err := g.Ack("m", d.TP, d.Offset); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/msg")
			})
		}
	}
}

// BenchmarkPollAckOutOfOrder acks each batch backwards, so that every ack
// but the last lands above the committed offset and goes to the acked set.
func BenchmarkPollAckOutOfOrder(b *testing.B) {
	owned := []TP{orders0}
	end := func(TP) int64 { return 1 << 62 }
	g := NewGroup(Config{})
	var ds []Delivery
	b.ReportAllocs()
	for b.Loop() {
		ds = g.Poll(ds[:0], t0, "m", owned, 100, end)
		for i := len(ds) - 1; i >= 0; i-- {
			if err := g.Ack("m", ds[i].TP, ds[i].Offset); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/msg")
}

// BenchmarkTick measures expiring a full member's in-flight window and
// handing it out again.
func BenchmarkTick(b *testing.B) {
	owned := []TP{orders0}
	end := func(TP) int64 { return 1 << 62 }
	g := NewGroup(Config{MaxRetries: 1 << 30})
	now := t0
	var ds []Delivery
	ds = g.Poll(ds[:0], now, "m", owned, 1000, end)
	// One round first: the steady state, not the first expiry of a fresh
	// window, which grows the group's tables.
	now = now.Add(time.Minute)
	g.Tick(now)
	ds = g.Poll(ds[:0], now, "m", owned, 1000, end)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Minute)
		g.Tick(now)
		ds = g.Poll(ds[:0], now, "m", owned, 1000, end)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/msg")
}

// BenchmarkPollAckPipelined keeps a member at its in-flight cap with polls
// of one message, acking the oldest before each poll: the most leases at
// once a member can hold, each of one message.
func BenchmarkPollAckPipelined(b *testing.B) {
	owned := []TP{orders0}
	end := func(TP) int64 { return 1 << 62 }
	g := NewGroup(Config{})
	now := t0
	var ds []Delivery
	for range DefaultMaxInFlightPerMember {
		ds = g.Poll(ds, now, "m", owned, 1, end)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := g.Ack("m", orders0, int64(i)); err != nil {
			b.Fatal(err)
		}
		now = now.Add(time.Microsecond)
		ds = g.Poll(ds[:0], now, "m", owned, 1, end)
	}
}
