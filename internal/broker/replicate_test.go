package broker

import (
	"errors"
	"sync"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// loopRepl replicates to this broker alone: Append applies the entry
// through ReplicaLog, as a partition's state machine does once the entry
// commits, unless the partition is refused (NOT_LEADER). It records what
// it was asked.
type loopRepl struct {
	b       *Broker
	refuse  map[int32]bool
	mu      sync.Mutex
	entries map[int32]int
}

func (r *loopRepl) Replicates(topic string) bool { return topic == "rep" }

func (r *loopRepl) Append(topic string, partition int32, batches []byte) ([]int64, error) {
	if r.refuse[partition] {
		return nil, api.ErrNotLeader.Withf("not the leader of %d", partition)
	}
	return r.apply(topic, partition, batches)
}

// apply appends batches as the partition's state machine does.
func (r *loopRepl) apply(topic string, partition int32, batches []byte) ([]int64, error) {
	r.mu.Lock()
	r.entries[partition]++
	r.mu.Unlock()
	l, err := r.b.ReplicaLog(topic, partition)
	if err != nil {
		return nil, err
	}
	var bases []int64
	for len(batches) > 0 {
		n, _ := recordbatch.Len(batches)
		base, err := l.AppendBatches(batches[:n])
		if err != nil {
			return nil, err
		}
		bases = append(bases, base)
		batches = batches[n:]
	}
	return bases, nil
}

// The three write paths of a replicated topic hand the partition's
// batches to the Replicator (one entry per partition of a request) and
// report the offsets its apply gave; a local topic is written directly.
// A request some of whose partitions were written and another refused is
// UNAVAILABLE, never NOT_LEADER (which would make a client write the
// written ones again); refused whole, it stays NOT_LEADER.
func TestReplicatedWritesGoThroughTheReplicator(t *testing.T) {
	b := mustOpen(t, testConfig(t))
	defer b.Close()
	r := &loopRepl{b: b, refuse: map[int32]bool{}, entries: map[int32]int{}}
	b.SetReplicator(r)
	for _, name := range []string{"rep", "local"} {
		if _, err := b.CreateTopic(TopicSpec{Name: name, Partitions: 2}); err != nil {
			t.Fatal(err)
		}
	}
	zero, one := int32(0), int32(1)
	pos, err := b.Publish("rep", []Message{{Value: []byte("a"), Partition: zero}, {Value: []byte("b"), Partition: one}, {Value: []byte("c"), Partition: zero}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Position{{0, 0}, {1, 0}, {0, 1}}; !equalPos(pos, want) || r.entries[0] != 1 || r.entries[1] != 1 {
		t.Fatalf("publish: %v (entries %v), want %v in one entry per partition", pos, r.entries, want)
	}
	frame := func(p int32, vals ...string) Frame {
		var bld recordbatch.Builder
		bld.Reset(nil)
		for _, v := range vals {
			bld.Add(0, 1, nil, []byte(v), nil)
		}
		return Frame{Partition: p, Batch: bld.Finish(recordbatch.NewHeader(0))}
	}
	pos, err = b.PublishBatches("rep", []Frame{frame(1, "d", "e"), frame(0, "f"), frame(1, "g")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Position{{1, 1}, {0, 2}, {1, 3}}; !equalPos(pos, want) || r.entries[1] != 2 {
		t.Fatalf("batches: %v (entries %v), want %v", pos, r.entries, want)
	}
	base, err := b.AppendBatch("rep", 0, frame(0, "h").Batch)
	if err != nil || base != 3 || r.entries[0] != 3 {
		t.Fatalf("kafka append: %d %v (entries %v)", base, err, r.entries)
	}
	if _, err := b.Publish("local", []Message{{Value: []byte("x"), Partition: zero}}); err != nil || r.entries[0] != 3 {
		t.Fatalf("a local topic went through the replicator: %v %v", err, r.entries)
	}
	res, err := b.ReadBatches("rep", 1, 0, 1<<20, nil)
	if err != nil || res.HighWatermark != 4 {
		t.Fatalf("partition 1: %+v %v", res, err)
	}

	r.refuse[1] = true
	if _, err := b.PublishBatches("rep", []Frame{frame(0, "i"), frame(1, "j")}); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("partly written request: %v, want UNAVAILABLE", err)
	}
	if _, err := b.Publish("rep", []Message{{Value: []byte("k"), Partition: one}}); !errors.Is(err, api.ErrNotLeader) {
		t.Fatalf("request refused whole: %v, want NOT_LEADER", err)
	}
}

func equalPos(a, b []Position) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
