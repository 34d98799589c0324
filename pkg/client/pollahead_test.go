package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// partitionStatus is the group's status of partition 0 of orders.
func partitionStatus(ctx context.Context, admin *client.Client, group string) (api.PartitionStatus, error) {
	d, err := admin.Group(ctx, group)
	if err != nil {
		return api.PartitionStatus{}, err
	}
	for _, p := range d.Partitions {
		if p.Topic == "orders" && p.Partition == 0 {
			return p, nil
		}
	}
	return api.PartitionStatus{}, fmt.Errorf("no status of orders/0 in %+v", d.Partitions)
}

// TestPollAheadOverlapsAndHandsBackWhatNoPollTakes: after a Poll, the
// consumer acknowledges in the background and polls the next messages
// ahead; when no Poll takes them within half the visibility timeout, they
// go back to the broker unprocessed, so the next Poll gets them again (a
// second delivery) rather than messages the broker is about to take for
// lost. Without the hand-back, the next Poll would hand out the messages
// polled ahead, with their first delivery count.
func TestPollAheadOverlapsAndHandsBackWhatNoPollTakes(t *testing.T) {
	srv, admin := setup(t, "orders", 1)
	produce(t, srv.URL, "orders", 20)
	cons := newConsumer(t, client.ConsumerConfig{
		Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"},
		VisibilityTimeout: 6 * time.Second,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var first []*client.Message
	for len(first) == 0 {
		msgs, err := cons.Poll(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		first = msgs
	}
	for _, m := range first {
		if err := cons.Ack(m); err != nil {
			t.Fatal(err)
		}
	}
	// No Poll: the acknowledgements still reach the broker, with the poll
	// ahead of the rest.
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		st, err := partitionStatus(ctx, admin, "g")
		if err != nil {
			return err
		}
		if st.CommittedOffset != int64(len(first)) || st.InFlight != 20-len(first) {
			return fmt.Errorf("committed %d, %d in flight; want %d, %d", st.CommittedOffset, st.InFlight, len(first), 20-len(first))
		}
		return nil
	})
	// Half the visibility timeout later, they are back.
	testkit.EventuallyNil(t, 20*time.Second, func() error {
		st, err := partitionStatus(ctx, admin, "g")
		if err != nil || st.InFlight != 0 {
			return fmt.Errorf("%d in flight, %v", st.InFlight, err)
		}
		return nil
	})
	got := 0
	for got < 20-len(first) {
		msgs, err := cons.Poll(ctx, 20)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Offset < int64(len(first)) || m.DeliveryCount != 2 {
				t.Fatalf("offset %d, delivery %d: want a second delivery of offsets from %d", m.Offset, m.DeliveryCount, len(first))
			}
			if err := cons.Ack(m); err != nil {
				t.Fatal(err)
			}
		}
		got += len(msgs)
	}
}

// TestSerialPollsPollsNothingAhead: with SerialPolls, nothing is in flight
// beyond what Poll returned.
func TestSerialPollsPollsNothingAhead(t *testing.T) {
	srv, admin := setup(t, "orders", 1)
	produce(t, srv.URL, "orders", 20)
	cons := newConsumer(t, client.ConsumerConfig{
		Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}, SerialPolls: true,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var msgs []*client.Message
	for len(msgs) == 0 {
		var err error
		if msgs, err = cons.Poll(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	if err := cons.CommitContext(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	st, err := partitionStatus(ctx, admin, "g")
	if err != nil || st.InFlight != 0 {
		t.Fatalf("%d in flight after committing all Poll returned, %v", st.InFlight, err)
	}
}
