package console_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// poison counts what the group's members did with the message "poison":
// the first delivery is dead-lettered, any later one (a replay) acknowledged.
type poison struct {
	dead     atomic.Int64
	replayed atomic.Int64
}

// member is one consumer of the test's group, run by its own goroutine: it
// acknowledges what it polls while consuming is set, and handles "poison"
// as the shared poison says.
type member struct {
	c         *client.Consumer
	consuming atomic.Bool
	consumed  atomic.Int64
	stop      context.CancelFunc
	wg        sync.WaitGroup
}

func startMember(t *testing.T, url, clientID string, pz *poison) *member {
	t.Helper()
	return startGroupMember(t, url, "billing", clientID, pz)
}

// startGroupMember starts a member of group.
func startGroupMember(t *testing.T, url, group, clientID string, pz *poison) *member {
	t.Helper()
	c, err := client.NewConsumer(&client.ConsumerConfig{
		Brokers: []string{url}, GroupID: group, Topics: []string{"orders"}, ClientID: clientID,
		HeartbeatInterval: 200 * time.Millisecond, PollWait: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{c: c, stop: cancel}
	m.consuming.Store(true)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for ctx.Err() == nil {
			if !m.consuming.Load() {
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
				continue
			}
			msgs, err := c.Poll(ctx, 200)
			if err != nil {
				continue // a rebalance or the end of the test; Poll joins again
			}
			for _, msg := range msgs {
				if string(msg.Value) == "poison" && pz.dead.Load() == 0 {
					if c.NackWith(msg, client.NackOptions{Requeue: false, Reason: "cannot parse the order"}) == nil {
						pz.dead.Add(1)
					}
					continue
				}
				if c.Ack(msg) == nil {
					m.consumed.Add(1)
					if string(msg.Value) == "poison" {
						pz.replayed.Add(1)
					}
				}
			}
		}
	}()
	t.Cleanup(m.close)
	return m
}

// close stops the loop and closes the consumer (commit and leave). Idempotent.
func (m *member) close() {
	m.stop()
	m.wg.Wait()
	m.c.Close()
}
