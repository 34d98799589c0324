package assign

import (
	"fmt"
	"testing"
)

// benchGroup returns n members all subscribing to nt topics that share
// total partitions.
func benchGroup(n, nt, total int) ([]Member, map[string]int32) {
	parts := make(map[string]int32, nt)
	topics := make([]string, nt)
	for i := range topics {
		topics[i] = fmt.Sprintf("topic-%02d", i)
		parts[topics[i]] = int32(total / nt)
	}
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{ID: fmt.Sprintf("member-%04d", i), Topics: topics}
	}
	return ms, parts
}

// BenchmarkBalance: a fresh 1,000-member group over 10,000 partitions in one
// or ten topics, per strategy.
func BenchmarkBalance(b *testing.B) {
	for _, nt := range []int{1, 10} {
		ms, parts := benchGroup(1000, nt, 10000)
		for _, s := range Strategies() {
			b.Run(fmt.Sprintf("%s/1000x10000/%dtopics", s, nt), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Balance(s, ms, parts, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkStickyJoin: one member joins a balanced 1,000-member group of
// 10,000 partitions; the sticky strategies move 10 partitions to it.
func BenchmarkStickyJoin(b *testing.B) {
	for _, nt := range []int{1, 10} {
		ms, parts := benchGroup(1001, nt, 10000)
		for _, s := range []string{Sticky, CooperativeSticky} {
			prev, err := Balance(s, ms[:1000], parts, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/1000+1x10000/%dtopics", s, nt), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Balance(s, ms, parts, prev); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkStickyMixed: the general path, 1,000 members each subscribing to
// 3 of 10 topics (10,000 partitions), from scratch and after one joins.
func BenchmarkStickyMixed(b *testing.B) {
	ms, parts := benchGroup(1001, 10, 10000)
	for i := range ms {
		ms[i].Topics = []string{ms[i].Topics[i%10], ms[i].Topics[(i+3)%10], ms[i].Topics[(i+7)%10]}
	}
	prev, err := Balance(Sticky, ms[:1000], parts, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ms   []Member
		prev Plan
	}{{"fresh", ms[:1000], nil}, {"join", ms, prev}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Balance(Sticky, c.ms, parts, c.prev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
