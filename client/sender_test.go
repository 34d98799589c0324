package client

import (
	"fmt"
	"testing"
)

// TestPickKeepsPartitionOrder: a ready request is sent only if none of its
// partitions is in flight or in an earlier ready request, and at most
// MaxInFlight at once.
func TestPickKeepsPartitionOrder(t *testing.T) {
	req := func(topic string, parts ...int32) *request { return &request{topic: topic, parts: parts} }
	tests := []struct {
		name  string
		max   int
		busy  []partKey
		ready []*request
		want  string // topic/parts of the picks, in order, until nil
	}{
		{"disjoint go together", 4, nil, []*request{req("a", 0), req("a", 1), req("b", 0)}, "a[0] a[1] b[0]"},
		{"same partition waits", 4, nil, []*request{req("a", 0, 1), req("a", 1), req("a", 2)}, "a[0 1] a[2]"},
		{"busy partition waits", 4, []partKey{{"a", 2}}, []*request{req("a", 2), req("a", 3)}, "a[3]"},
		{"no overtaking through a waiting request", 4, []partKey{{"a", 0}}, []*request{req("a", 0, 5), req("a", 5), req("a", 6)}, "a[6]"},
		{"in-flight cap", 2, nil, []*request{req("a", 0), req("a", 1), req("a", 2)}, "a[0] a[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Producer{cfg: ProducerConfig{MaxInFlight: tt.max}, busy: make(map[partKey]bool), ready: tt.ready}
			for _, k := range tt.busy {
				p.busy[k] = true
				p.inFlight++
			}
			got := ""
			for r := p.pickLocked(); r != nil; r = p.pickLocked() {
				if got != "" {
					got += " "
				}
				got += fmt.Sprintf("%s%v", r.topic, r.parts)
			}
			if got != tt.want {
				t.Fatalf("picked %q, want %q", got, tt.want)
			}
		})
	}
}
