package client_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestCrashedMembersMessagesReachTheSurvivor: a victim takes a partition
// from a Go-client survivor, polls three messages of it and dies. When the
// broker fences it, the survivor gets the partition back and, at once, the
// three messages (their second delivery), never after the visibility
// timeout. The survivor's poll answer can cross the heartbeat that gives
// the partition back, while the client still has it marked released: it
// must take or hand back those messages, never drop them. Repeated over
// rounds, as the race it guards against struck in 4 runs of 7.
func TestCrashedMembersMessagesReachTheSurvivor(t *testing.T) {
	if testing.Short() {
		t.Skip("rounds of session timeouts")
	}
	srv := brokertest.Start(t, brokertest.WithConfig(func(c *broker.Config) {
		c.Groups.MinSessionTimeout = 100 * time.Millisecond
	}))
	admin, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 8 {
		crashRound(t, srv, admin, round)
	}
}

func crashRound(t *testing.T, srv *brokertest.Server, admin *client.Client, round int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic, group := fmt.Sprintf("orders-%d", round), fmt.Sprintf("g%d", round)
	if _, err := admin.CreateTopic(ctx, api.CreateTopicRequest{Name: topic, Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	type got struct {
		at    time.Time
		count int
	}
	var (
		mu       sync.Mutex
		received = make(map[string]got)
	)
	survivor := newConsumer(t, client.ConsumerConfig{
		Brokers: []string{srv.URL}, GroupID: group, Topics: []string{topic},
		SessionTimeout: 2 * time.Second, VisibilityTimeout: time.Minute,
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			msgs, err := survivor.Poll(ctx, 10)
			if err != nil {
				continue
			}
			mu.Lock()
			for _, m := range msgs {
				received[string(m.Value)] = got{time.Now(), m.DeliveryCount}
				_ = survivor.Ack(m)
			}
			mu.Unlock()
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	ctxLeft := func() time.Duration { dl, _ := ctx.Deadline(); return time.Until(dl) }
	testkit.Eventually(t, ctxLeft(), func() bool { return len(survivor.Assignment()[topic]) == 2 },
		"round %d: survivor to own both partitions", round)

	// The victim, a raw HTTP member, joins and heartbeats until the
	// survivor has released a partition to it.
	var join api.JoinResponse
	if st := srv.DoJSON(http.MethodPost, "/groups/"+group+"/join", api.JoinRequest{Topics: []string{topic}, SessionTimeoutMS: 300}, &join); st != http.StatusOK {
		t.Fatalf("round %d: victim join: %d", round, st)
	}
	gen, owned := join.Generation, join.AssignedPartitions
	testkit.Eventually(t, ctxLeft(), func() bool {
		if len(owned[topic]) > 0 {
			return true
		}
		var hb api.HeartbeatResponse
		if st := srv.DoJSON(http.MethodPost, "/groups/"+group+"/heartbeat", api.HeartbeatRequest{MemberID: join.MemberID, Generation: gen, OwnedPartitions: owned}, &hb); st != http.StatusOK {
			t.Fatalf("round %d: victim heartbeat: %d", round, st)
		}
		gen, owned = hb.Generation, hb.AssignedPartitions
		return len(owned[topic]) > 0
	}, "round %d: the survivor to release a partition to the victim", round)
	p := owned[topic][0]
	var want []string
	for i := range 3 {
		v := fmt.Sprintf("victim-%d", i)
		want = append(want, v)
		if st := srv.DoJSON(http.MethodPost, "/topics/"+topic+"/messages", api.PublishMessage{Value: []byte(`"` + v + `"`), Partition: &p}, nil); st != http.StatusOK && st != http.StatusCreated {
			t.Fatalf("round %d: publish: %d", round, st)
		}
	}
	var held api.PollResponse
	testkit.Eventually(t, ctxLeft(), func() bool {
		var more api.PollResponse
		if st := srv.DoJSON(http.MethodPost, "/groups/"+group+"/poll", api.PollRequest{MemberID: join.MemberID, Generation: gen, MaxMessages: 10, WaitMS: 100}, &more); st != http.StatusOK {
			t.Fatalf("round %d: victim poll: %d", round, st)
		}
		held.Messages = append(held.Messages, more.Messages...)
		return len(held.Messages) >= 3
	}, "round %d: the victim to be handed its 3 messages", round)
	// The victim falls silent holding three messages. The survivor gets
	// them within 15 s: far below the minute of visibility timeout that a
	// dropped message would wait out; far above the 300 ms session timeout.
	testkit.EventuallyNil(t, 15*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, v := range want {
			if g, ok := received[v]; ok {
				n++
				// The victim's delivery, the handoff's, and one more if the
				// survivor handed back a poll answer that crossed its release.
				if g.count < 2 {
					t.Errorf("round %d: %s delivered with count %d, want 2 or more", round, v, g.count)
				}
			}
		}
		if n < len(want) {
			return fmt.Errorf("round %d: the survivor got %d of the victim's %d messages after the crash", round, n, len(want))
		}
		return nil
	})
}
