package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// TestPickKeepsPartitionOrder: a ready request is sent only if none of its
// partitions is in flight or in an earlier ready request, and at most
// MaxInFlight at once to each node.
func TestPickKeepsPartitionOrder(t *testing.T) {
	req := func(topic string, parts ...int32) *request { return &request{topic: topic, parts: parts} }
	on := func(node string, r *request) *request { r.node = node; return r }
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
		// A node that stops answering holds its own slots only.
		{"in-flight cap per node", 1, nil, []*request{on("n1", req("a", 0)), on("n1", req("a", 1)), on("n2", req("a", 2))}, "a[0] a[2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Producer{cfg: ProducerConfig{MaxInFlight: tt.max}, busy: make(map[partKey]bool), seqs: make(map[partKey]*partSeq), ready: tt.ready}
			for _, k := range tt.busy {
				p.busy[k] = true
				p.inFlight++
			}
			got := ""
			for r := p.pickLocked(time.Now()); r != nil; r = p.pickLocked(time.Now()) {
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

// TestPickPipelined: the first batch of a partition's epoch goes alone;
// once one landed, pipelined requests of the partition go together, up to
// api.MaxInFlightPerPartition, in order, each with the sequences after the
// one before; none goes while a request of the partition waits to be sent
// again, and a request sent again goes first, with its sequences.
func TestPickPipelined(t *testing.T) {
	p := &Producer{cfg: ProducerConfig{MaxInFlight: 100}, busy: make(map[partKey]bool), seqs: make(map[partKey]*partSeq)}
	var reqs []*request
	for range 7 {
		pb := &partBatch{}
		pb.b.Reset(make([]byte, frameHeaderLen))
		for range 3 {
			pb.b.Add(0, 1, nil, []byte("v"), nil)
		}
		r := &request{topic: "a", parts: []int32{0}, slots: []*partBatch{pb}, piped: true}
		reqs = append(reqs, r)
	}
	p.ready = append(p.ready, reqs...)
	pick := func() string {
		var seqs []int32
		for r := p.pickLocked(time.Now()); r != nil; r = p.pickLocked(time.Now()) {
			seqs = append(seqs, r.slots[0].seq)
		}
		return fmt.Sprint(seqs)
	}
	// Sent together with the first, a later batch could overtake it (on a
	// new connection after the first's broke) and be taken as the start.
	if got := pick(); got != "[0]" {
		t.Fatalf("sequences picked first: %v, want [0] (the epoch's first batch alone)", got)
	}
	s := p.seqs[partKey{"a", 0}]
	s.outstanding--
	s.onNode("", -1)
	s.landed = true // the first is written
	if got := pick(); got != "[3 6 9 12 15]" {
		t.Fatalf("sequences picked next: %v, want [3 6 9 12 15] (five at most)", got)
	}
	// The first of them is answered "try later": it goes again before
	// anything new.
	reqs[1].retrying = true
	s.recovering++
	p.retry = append(p.retry, reqs[1])
	s.outstanding-- // the second is answered
	if r := p.pickLocked(time.Now()); r != reqs[1] || r.slots[0].seq != 3 {
		t.Fatalf("picked %+v, want the request to send again, with sequence 3", r)
	}
	if r := p.pickLocked(time.Now()); r != nil {
		t.Fatalf("picked %+v while the partition recovers", r)
	}
}

// TestBatchStartsAtHint: once a topic's request was sealed full, the next
// batch of that topic starts with the capacity it will need, even when no
// answered buffer is free for reuse (the producer runs ahead of its sends).
func TestBatchStartsAtHint(t *testing.T) {
	p := &Producer{
		cfg:     ProducerConfig{BatchBytes: 4096, BufferBytes: 1 << 20, MetadataMaxAge: time.Hour},
		topics:  map[string]*topicState{"t": {partitions: 1, fetchedAt: time.Now()}},
		pending: make(map[uint64]struct{}),
		wake:    make(chan struct{}, 1),
		asked:   true,
		pid:     -1,
	}
	rec := &Record{Value: bytes.Repeat([]byte("x"), 100), Timestamp: time.UnixMilli(1)}
	for p.sealed < 2 {
		if err := p.enqueue(context.Background(), "t", rec, func(Position, error) {}); err != nil {
			t.Fatal(err)
		}
	}
	first := len(p.ready[0].slots[0].buf)
	hint := p.topics["t"].batchHint
	if hint < first || hint > first*2 {
		t.Fatalf("hint %d after a batch of %d bytes", hint, first)
	}
	if err := p.enqueue(context.Background(), "t", rec, func(Position, error) {}); err != nil {
		t.Fatal(err)
	}
	if got := cap(p.topics["t"].open[openKey{}].slots[0].buf); got < hint {
		t.Errorf("new batch has capacity %d, want at least the hint %d", got, hint)
	}
}

// TestRetriesKeepSendOrder drives answered as the pipes do: the first
// batch's answer lets the partition's next ones go together; requests
// waiting to go again are kept in the order first sent, whatever order
// they failed in (a request that fails again goes before later ones of
// its partition waiting already); and a request sealed after one that
// waits overtakes it, so writeOnPipe sends it after instead of ahead on a
// new pipe (the broker took a later batch as the start of a producer it
// had no state for, and refused the first for good). A partition's
// waiting request holds only that partition's retries.
func TestRetriesKeepSendOrder(t *testing.T) {
	p := &Producer{
		cfg:  ProducerConfig{MaxInFlight: 100, RetryTimeout: time.Hour},
		busy: make(map[partKey]bool), seqs: make(map[partKey]*partSeq),
		pending: make(map[uint64]struct{}), progress: make(chan struct{}), wake: make(chan struct{}, 1),
	}
	req := func(topic string, seq uint64) *request {
		pb := &partBatch{}
		pb.b.Reset(make([]byte, frameHeaderLen))
		pb.b.Add(0, 1, nil, []byte("v"), nil)
		return &request{topic: topic, parts: []int32{0}, slots: []*partBatch{pb}, piped: true, seq: seq, opened: time.Now()}
	}
	r0, r1, r2 := req("a", 1), req("a", 2), req("a", 3)
	p.ready = []*request{r0, r1, r2}
	if r := p.pickLocked(time.Now()); r != r0 || p.pickLocked(time.Now()) != nil {
		t.Fatal("the first batch did not go alone")
	}
	p.answered(r0, &api.PublishResponse{Offsets: []api.PublishResult{{}}}, nil)
	if !p.seqs[partKey{"a", 0}].landed {
		t.Fatal("the first batch's answer did not mark the partition landed")
	}
	if p.pickLocked(time.Now()) != r1 || p.pickLocked(time.Now()) != r2 {
		t.Fatal("the next batches did not go together once the first landed")
	}
	lost := &connError{err: io.EOF}
	p.answered(r2, nil, lost) // r2 waits to go again
	p.answered(r1, nil, lost) // r1, sent before it, fails after: it goes first
	if len(p.retry) != 2 || p.retry[0] != r1 || p.retry[1] != r2 {
		var seqs []uint64
		for _, r := range p.retry {
			seqs = append(seqs, r.seq)
		}
		t.Fatalf("retries sealed %v, want [2 3]", seqs)
	}
	later, other := req("a", 4), req("b", 5)
	if !p.overtakes(later) || p.overtakes(other) {
		t.Fatalf("overtakes: a later request of the partition %t, another topic's %t; want true, false",
			p.overtakes(later), p.overtakes(other))
	}

	// Only a partition's own earlier request holds its retries: r1 waits
	// (its leader down, say), r2 behind it; another topic's retry that is
	// due goes.
	now := time.Now()
	r1.retryAt, r2.retryAt = now.Add(time.Second), now
	p.seqs[partKey{"b", 0}] = &partSeq{outstanding: 1, recovering: 1}
	other.retrying, other.retryAt = true, now
	p.retry = append(p.retry, other)
	if r := p.pickLocked(now); r != other {
		t.Fatalf("picked %v, want the other topic's retry, which is due", r)
	}
	if r := p.pickLocked(now); r != nil {
		t.Fatalf("picked sealed %d: r2 went before r1, or r1 before its time", r.seq)
	}
	if _, due := p.retryLocked(now); !due.Equal(r1.retryAt) {
		t.Fatalf("the next retry is due at %v, want r1's %v", due, r1.retryAt)
	}
	if r := p.pickLocked(r1.retryAt); r != r1 {
		t.Fatalf("picked %v at r1's time, want r1", r)
	}
}

// Keyless records go to the next partition that is not backed up: not to
// one whose request failed and waits to go again, nor one whose leader
// has every slot in flight (dead or hung, until the failover); to the
// next in turn when all are.
func TestStickySkipsBackedUpPartitions(t *testing.T) {
	p := &Producer{cfg: ProducerConfig{MaxInFlight: 1}, seqs: map[partKey]*partSeq{
		{"t", 1}: {recovering: 1},
		{"t", 2}: {outstanding: api.MaxInFlightPerPartition},
	}}
	ts := &topicState{partitions: 5, leaders: []string{"n1", "n1", "n1", "n2", "n3"}}
	p.takeSlotLocked(&request{node: "n2"}) // n2: its one slot taken
	if got := p.nextStickyLocked(ts, "t"); got != 4 {
		t.Fatalf("after 0: %d, want 4 (1 retrying, 2 full, 3's node full)", got)
	}
	ts.sticky = 4
	if got := p.nextStickyLocked(ts, "t"); got != 0 {
		t.Fatalf("after 4: %d, want 0", got)
	}
	p.takeSlotLocked(&request{node: "n1"})
	p.takeSlotLocked(&request{node: "n3"})
	if got := p.nextStickyLocked(ts, "t"); got != 0 {
		t.Fatalf("all backed up, after 4: %d, want 0, the next", got)
	}
}

// The default buffer is per node with requests in flight: a node that
// stops answering holds its requests' bytes until RequestTimeout, and
// with one buffer for all its in-flight requests alone nearly filled it,
// blocking the records of every other node's partitions. A buffer set
// by the application is what it says.
func TestBufferPerNode(t *testing.T) {
	for _, tc := range []struct {
		perNode bool
		nodes   []string
		want    int
	}{
		{true, nil, 100},
		{true, []string{"n1"}, 100},
		{true, []string{"n1", "n1", "n2", "n3"}, 300},
		{false, []string{"n1", "n2", "n3"}, 100},
	} {
		p := &Producer{cfg: ProducerConfig{BufferBytes: 100}, bufferPerNode: tc.perNode}
		for _, n := range tc.nodes {
			p.takeSlotLocked(&request{node: n})
		}
		if got := p.bufferLimitLocked(); got != tc.want {
			t.Errorf("per node %v, in flight on %v: limit %d, want %d", tc.perNode, tc.nodes, got, tc.want)
		}
	}
}
