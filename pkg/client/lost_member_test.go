package client_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// A member the broker forgot (its coordinator failed over, or it was
// removed) learns it when its pending acks are refused at the next Poll;
// that Poll then joins again and polls as the new member. It used to send
// the poll with the member ID the loss had just cleared, and the
// application got INVALID_ARGUMENT "member_id is empty" (seen in the
// cluster's coordinator failover test after every kill).
func TestPollAfterTheMemberWasForgottenJoinsAgain(t *testing.T) {
	srv, _ := setup(t, "orders", 1)
	produce(t, srv.URL, "orders", 20)
	cons := newPollingConsumer(t, client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}, SerialPolls: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msgs, err := cons.Poll(ctx, 5)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("first poll: %d messages, %v", len(msgs), err)
	}
	for _, m := range msgs {
		if err := cons.Ack(m); err != nil {
			t.Fatal(err)
		}
	}
	// The broker forgets the member behind the consumer's back.
	resp, err := http.Post(srv.URL+"/groups/g/leave", "application/json", strings.NewReader(`{"member_id":"`+cons.MemberID()+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("leave: %d", resp.StatusCode)
	}
	msgs, err = cons.Poll(ctx, 5)
	if err != nil {
		t.Fatalf("poll after the member was forgotten: %v", err)
	}
	if cons.MemberID() == "" {
		t.Fatal("the consumer polled without joining again")
	}
	_ = msgs // what it holds now is the new member's: redeliveries of the unacked ones included
}
