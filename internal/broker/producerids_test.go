package broker

import (
	"context"
	"errors"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

// A single broker's producer IDs never go back across restarts, even when
// the last block was far from used up, and are never handed out twice.
func TestProducerIDsNeverReusedAcrossRestarts(t *testing.T) {
	cfg := testConfig(t)
	seen := map[int64]bool{}
	last := int64(-1)
	for restart := range 3 {
		b := mustOpen(t, cfg)
		for range producerIDBlock + 3 - restart {
			id, err := b.NewProducerID(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if seen[id] || id <= last {
				t.Fatalf("after %d restarts: ID %d again or not above %d", restart, id, last)
			}
			seen[id], last = true, id
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// blockSource hands out blocks from a shared counter, as the metadata
// group does for a cluster's nodes.
type blockSource struct {
	next  *int64
	calls int
	err   error
}

func (s *blockSource) ReserveProducerIDs(_ context.Context, count int64) (int64, error) {
	s.calls++
	if s.err != nil {
		return 0, s.err
	}
	first := *s.next
	*s.next += count
	return first, nil
}

// Brokers that share a block source (a cluster's nodes) hand out disjoint
// IDs, reserving one block per producerIDBlock IDs; a failed reservation is
// UNAVAILABLE.
func TestProducerIDsFromSharedBlocks(t *testing.T) {
	var next int64
	seen := map[int64]int{}
	var srcs []*blockSource
	var brokers []*Broker
	for range 2 {
		b := mustOpen(t, testConfig(t))
		defer b.Close()
		src := &blockSource{next: &next}
		b.SetProducerIDs(src)
		srcs, brokers = append(srcs, src), append(brokers, b)
	}
	for i := range 2*producerIDBlock + 10 {
		for n, b := range brokers {
			id, err := b.NewProducerID(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if other, ok := seen[id]; ok {
				t.Fatalf("ID %d handed out by broker %d and broker %d (round %d)", id, other, n, i)
			}
			seen[id] = n
		}
	}
	for n, s := range srcs {
		if s.calls != 3 {
			t.Errorf("broker %d reserved %d blocks, want 3", n, s.calls)
		}
	}
	b := mustOpen(t, testConfig(t))
	defer b.Close()
	b.SetProducerIDs(&blockSource{next: &next, err: errors.New("no quorum")})
	if _, err := b.NewProducerID(t.Context()); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("failed reservation: %v, want UNAVAILABLE", err)
	}
}
