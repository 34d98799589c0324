package client

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

// ackModel is what a consumer's acknowledgement bookkeeping must amount to,
// kept the simplest way: a set per state.
type ackModel struct {
	held, consumed, acked map[tp]map[int64]bool // acked: to send
	nacked                map[api.MessageRef]bool
}

func newAckModel() *ackModel {
	return &ackModel{held: map[tp]map[int64]bool{}, consumed: map[tp]map[int64]bool{}, acked: map[tp]map[int64]bool{}, nacked: map[api.MessageRef]bool{}}
}

func put(m map[tp]map[int64]bool, k tp, off int64) {
	if m[k] == nil {
		m[k] = map[int64]bool{}
	}
	m[k][off] = true
}

func count(m map[tp]map[int64]bool) int {
	n := 0
	for _, s := range m {
		n += len(s)
	}
	return n
}

// TestMemberStateAcksAsRangesModel drives a consumer's bookkeeping with
// random deliveries (mostly in order, with redeliveries), acks, nacks and
// duplicate acks in random orders, AutoCommit's consumption, flushes that
// fail and are queued again, and releases, against ackModel. Every flush
// must send exactly the offsets acknowledged since the last, each once, as
// ranges ordered by partition and offset, disjoint and merged; what is held
// and what counts against the in-flight cap must match the model.
func TestMemberStateAcksAsRangesModel(t *testing.T) {
	parts := []tp{{"a", 0}, {"a", 1}, {"b", 0}}
	for seed := range uint64(100) {
		r := rand.New(rand.NewPCG(seed, 7))
		s := newMemberState()
		m := newAckModel()
		next := map[tp]int64{}
		owned := map[tp]bool{}
		for _, k := range parts {
			s.owned[k], owned[k] = true, true
		}
		// settle is Consumer.settle's: only a partition owned settles.
		settle := func(k tp, off int64, nack *NackOptions) bool {
			if got := s.ownsLocked(k); got != owned[k] {
				t.Fatalf("seed %d: owns %v = %v, want %v", seed, k, got, owned[k])
			}
			if !owned[k] {
				return false
			}
			s.settleLocked(k, off, nack)
			return m.held[k][off]
		}
		for step := range 3000 {
			k := parts[r.IntN(len(parts))]
			pick := func() int64 { // an offset delivered before, maybe still held
				if next[k] == 0 {
					return 0
				}
				return r.Int64N(next[k])
			}
			switch op := r.IntN(100); {
			case op < 35: // the next offsets, as a poll hands them out
				if !owned[k] {
					continue // accept hands them back
				}
				for range 1 + r.IntN(20) {
					s.partLocked(k).held.add(next[k])
					put(m.held, k, next[k])
					next[k]++
				}
			case op < 38: // a redelivery of an offset not acknowledged
				off := pick()
				if !owned[k] || m.acked[k][off] || m.consumed[k][off] {
					continue
				}
				s.partLocked(k).held.add(off)
				put(m.held, k, off)
			case op < 75: // an ack, maybe of one settled already
				if off := pick(); settle(k, off, nil) {
					delete(m.held[k], off)
					put(m.acked, k, off)
				}
			case op < 80: // a nack
				if off := pick(); settle(k, off, &NackOptions{Requeue: true}) {
					delete(m.held[k], off)
					m.nacked[api.MessageRef{Topic: k.topic, Partition: k.partition, Offset: off}] = true
				}
			case op < 84: // AutoCommit: a new Poll consumes what was held
				s.consumedLocked()
				for k, offs := range m.held {
					for off := range offs {
						put(m.consumed, k, off)
					}
				}
				m.held = map[tp]map[int64]bool{}
			case op < 97: // a flush, with or without what was consumed
				withConsumed := r.IntN(2) == 0
				if n := s.unackedLocked(withConsumed); n != count(m.held)+map[bool]int{false: count(m.consumed), true: 0}[withConsumed] {
					t.Fatalf("seed %d step %d: unacked %d", seed, step, n)
				}
				sent := s.takeAcksLocked(withConsumed)
				want := m.acked
				if withConsumed {
					for k, offs := range m.consumed {
						for off := range offs {
							put(want, k, off)
						}
					}
				}
				checkRanges(t, fmt.Sprintf("seed %d step %d", seed, step), sent, want)
				if r.IntN(4) == 0 { // the send failed: queued again
					s.requeueAcksLocked(sent)
					m.acked = want
				} else {
					m.acked = map[tp]map[int64]bool{}
				}
				if withConsumed {
					m.consumed = map[tp]map[int64]bool{}
				}
				var nacked []api.MessageRef
				for _, n := range s.nacks {
					nacked = append(nacked, n.ref)
				}
				if len(nacked) != len(m.nacked) {
					t.Fatalf("seed %d step %d: %d nacks queued, want %d", seed, step, len(nacked), len(m.nacked))
				}
				for _, ref := range nacked {
					if !m.nacked[ref] {
						t.Fatalf("seed %d step %d: nack of %+v, not nacked", seed, step, ref)
					}
				}
				s.nacks, m.nacked = nil, map[api.MessageRef]bool{}
			default: // the partition is released (what it holds goes back), or assigned again
				if !owned[k] {
					s.owned[k], owned[k] = true, true
					delete(s.released, k)
					continue
				}
				s.releaseLocked([]tp{k})
				owned[k] = false
				delete(m.held, k)
			}
			if h := s.hint; h.p != nil && (!s.owned[h.k] || s.parts[h.k] != h.p) {
				t.Fatalf("seed %d step %d: hint %v is not an owned partition's state", seed, step, h.k)
			}
			for _, k := range parts {
				if got, want := s.heldLocked(k), len(m.held[k]); got != want {
					t.Fatalf("seed %d step %d: %v holds %d, want %d", seed, step, k, got, want)
				}
			}
		}
	}
}

// checkRanges checks that ranges name exactly the offsets of want, each
// once, ordered by topic, partition and offset, and merged (no two ranges
// of a partition touch).
func checkRanges(t *testing.T, where string, ranges []api.OffsetRange, want map[tp]map[int64]bool) {
	t.Helper()
	got := map[tp]map[int64]bool{}
	for i, rg := range ranges {
		if rg.From >= rg.To {
			t.Fatalf("%s: empty range %+v", where, rg)
		}
		if i > 0 {
			prev := ranges[i-1]
			c := compareTP(tp{prev.Topic, prev.Partition}, tp{rg.Topic, rg.Partition})
			if c > 0 || (c == 0 && prev.To >= rg.From) {
				t.Fatalf("%s: %+v then %+v: not ordered and apart", where, prev, rg)
			}
		}
		for off := rg.From; off < rg.To; off++ {
			put(got, tp{rg.Topic, rg.Partition}, off)
		}
	}
	for k := range mapsUnion(got, want) {
		g, w := sortedKeys(got[k]), sortedKeys(want[k])
		if !slices.Equal(g, w) {
			t.Fatalf("%s: %v sent %v, want %v", where, k, g, w)
		}
	}
}

func mapsUnion(a, b map[tp]map[int64]bool) map[tp]bool {
	out := map[tp]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func sortedKeys(m map[int64]bool) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
