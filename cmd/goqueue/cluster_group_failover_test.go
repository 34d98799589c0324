package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/cluster/groupstore"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// preferredCoordinator is the node that coordinates group in a cluster of
// nodes 1, 2 and 3 while all are up: the first replica of its shard
// (node/groupshards.go places shard i from the i-th sorted peer on).
func preferredCoordinator(group string) uint64 {
	return uint64(groupstore.ShardOf(group)%3) + 1
}

// coordinatorOf is the node coordinating group as node id answers (0 if
// it names none now): the node that served its GET /groups/{group} (200,
// or 404 for a group not created yet) — itself, or the coordinator it
// asked (httpapi.ServedByHeader) — else the coordinator a NOT_COORDINATOR
// names.
func (c *clusterProcs) coordinatorOf(id uint64, group string) uint64 {
	c.t.Helper()
	resp, err := c.httpClient().Get(c.procs[id].URL + "/groups/" + group)
	if err != nil {
		c.t.Fatalf("node %d: GET /groups/%s: %v", id, group, err)
	}
	defer resp.Body.Close()
	var e api.ErrorBody
	json.NewDecoder(resp.Body).Decode(&e)
	served := id
	if by := resp.Header.Get(httpapi.ServedByHeader); by != "" {
		n, err := strconv.ParseUint(by, 10, 64)
		if err != nil {
			c.t.Fatalf("node %d: %s %q", id, httpapi.ServedByHeader, by)
		}
		served = n
	}
	switch st := resp.StatusCode; {
	case st == http.StatusOK, st == http.StatusNotFound && e.Error != nil && e.Error.Code == api.ErrGroupNotFound.Code:
		return served
	case st == http.StatusMisdirectedRequest && e.Error != nil:
		if f, ok := e.Error.Details["coordinator"].(float64); ok {
			return uint64(f)
		}
	}
	return 0
}

// awaitCoordinator waits until every node in ids names node as group's
// coordinator and node serves it. It fails at once if node is no longer
// running: it never will.
func (c *clusterProcs) awaitCoordinator(node uint64, group string, ids ...uint64) {
	c.t.Helper()
	c.eventually(30*time.Second, fmt.Sprintf("node %d coordinates group %s", node, group), func() bool {
		if p := c.procs[node]; !p.Alive() {
			c.t.Fatalf("node %d, to coordinate group %s, exited: %v", node, group, p.Err())
		}
		for _, id := range ids {
			if c.coordinatorOf(id, group) != node {
				return false
			}
		}
		return true
	})
}

// handout is one message handed to a member; acked is when the Commit
// carrying it returned nil (zero: never, or not known to have worked).
type handout struct {
	member string
	at     time.Time
	count  int // the broker's delivery count
	acked  time.Time
}

// groupLedger records every delivery and acknowledgement of a group's
// members and checks them against the promise: every message consumed;
// none delivered again after its acknowledgement returned; so every
// redelivery is of a message that was in flight (delivered, not yet
// acknowledged) when its coordinator died.
type groupLedger struct {
	mu   sync.Mutex
	msgs map[string][]*handout // "partition/offset" → deliveries in order
}

func (l *groupLedger) deliver(member string, m *client.Message) *handout {
	d := &handout{member: member, at: time.Now(), count: m.DeliveryCount}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := fmt.Sprintf("%d/%d", m.Partition, m.Offset)
	l.msgs[k] = append(l.msgs[k], d)
	return d
}

func (l *groupLedger) ack(ds []*handout, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range ds {
		d.acked = at
	}
}

// check returns the violations, and how many messages were delivered
// more than once.
func (l *groupLedger) check(parts, perPart int) (problems []string, redelivered int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p := range parts {
		for off := range perPart {
			k := fmt.Sprintf("%d/%d", p, off)
			ds := l.msgs[k]
			if len(ds) == 0 {
				problems = append(problems, k+": never delivered")
				continue
			}
			if len(ds) > 1 {
				redelivered++
			}
			for i, d := range ds {
				for _, later := range ds[i+1:] {
					if !d.acked.IsZero() && later.at.After(d.acked) {
						problems = append(problems, fmt.Sprintf("%s: acknowledged at %s (delivery to %s), delivered again at %s to %s",
							k, d.acked.Format("15:04:05.000"), d.member, later.at.Format("15:04:05.000"), later.member))
					}
				}
			}
		}
	}
	return problems, redelivered
}

// A group consuming with acknowledgements through two Go consumers (given
// every node) loses its coordinator to SIGKILL halfway: another node takes
// the group's shard over, the members rejoin on their own and the group
// consumes the rest. The ledger proves every message consumed and nothing
// acknowledged delivered again (redeliveries are of messages in flight at
// the kill), and the survivors' committed offsets reach the end. It logs
// "coordinator killed -> group consuming again": the time from the kill to
// the first acknowledgement that returned after it. GOQUEUE_CLUSTER_LONG=1
// kills the new coordinator too (two failovers). It runs with members
// polling and with members on the stream, whose acknowledgements go as
// frames on a connection the kill breaks.
func TestBinaryClusterGroupFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "polls", true: "stream"}[stream], func(t *testing.T) { groupFailover(t, stream) })
	}
}

func groupFailover(t *testing.T, stream bool) {
	const topic, parts, perRound = "fo", 3, 600
	c := startClusterProcs(t, 3)
	metaLeader := c.agree([]uint64{1, 2, 3}, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	if st := c.do(1, "POST", "/topics", fmt.Sprintf(`{"name":%q,"partitions":%d}`, topic, parts), nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	var brokers []string
	for id := uint64(1); id <= 3; id++ {
		c.topic(id, topic)
		brokers = append(brokers, c.procs[id].URL)
	}
	// The coordinator is a node that does not lead the metadata, so that
	// the failover measured is the group's alone.
	coord := metaLeader%3 + 1
	group := groupOn("fo", coord)
	c.awaitCoordinator(coord, group, 1, 2, 3)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := client.NewProducer(&client.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Each kill has perRound messages a partition of its own, published
	// before the group consumes them, so that the group is busy at the
	// kill however fast it consumes.
	perPart := 0
	publish := func() {
		for i := range parts * perRound {
			part := int32(i % parts)
			for try := 0; ; try++ {
				_, err := p.Publish(ctx, topic, &client.Record{Value: []byte(strconv.Itoa(perPart*parts + i)), Partition: &part})
				if err == nil {
					break
				}
				// NOT_LEADER wrote nothing (a leadership handed back to
				// the restarted node meanwhile): safe to send again.
				if !errors.Is(err, api.ErrNotLeader) || try == 50 {
					t.Fatalf("publish %d: %v", i, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		perPart += perRound
	}
	publish()

	led := &groupLedger{msgs: map[string][]*handout{}}
	var (
		mu      sync.Mutex
		acked   int       // messages whose Commit returned nil
		lastAck time.Time // when the last such Commit returned
		killed  time.Time // the last kill
		// again is when the first Commit of messages polled after the
		// last kill returned nil.
		again time.Time
		wg    sync.WaitGroup
	)
	consume := func(name string) {
		defer wg.Done()
		cons, err := client.NewConsumer(&client.ConsumerConfig{Brokers: brokers, GroupID: group, Topics: []string{topic},
			SessionTimeout: 6 * time.Second, PollWait: 200 * time.Millisecond, ClientID: name,
			NoStream: !stream, HTTPClient: &http.Client{Timeout: 3 * time.Second}})
		if err != nil {
			t.Error(err)
			return
		}
		defer cons.Close()
		for ctx.Err() == nil {
			polled := time.Now()
			msgs, err := cons.Poll(ctx, 20)
			if err != nil {
				if ctx.Err() == nil {
					t.Logf("%s: poll: %v", name, err)
				}
				time.Sleep(50 * time.Millisecond)
				continue
			}
			ds := make([]*handout, len(msgs))
			for i, m := range msgs {
				ds[i] = led.deliver(name+"/"+cons.MemberID(), m)
			}
			if len(msgs) == 0 {
				continue
			}
			time.Sleep(5 * time.Millisecond) // "processing": keeps messages in flight
			// Only messages Ack took count as acknowledged once Commit
			// returns, and only if the member kept its session meanwhile:
			// the client drops the acknowledgements of a session it
			// loses (ErrRevoked, or pending when a heartbeat learns it
			// lost the member) and Commit still returns nil.
			session := cons.MemberID()
			var taken []*handout
			for i, m := range msgs {
				if err := cons.Ack(m); err == nil {
					taken = append(taken, ds[i])
				}
			}
			if err := cons.Commit(); err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Logf("%s: commit of %d messages: %v", name, len(taken), err)
				}
				continue
			}
			if len(taken) == 0 || cons.MemberID() != session {
				continue
			}
			now := time.Now()
			led.ack(taken, now)
			mu.Lock()
			acked += len(taken)
			lastAck = now
			if !killed.IsZero() && polled.After(killed) && again.IsZero() {
				again = now
			}
			mu.Unlock()
		}
	}
	wg.Add(2)
	go consume("a")
	go consume("b")
	defer func() {
		cancel()
		wg.Wait()
	}()

	progress := func() int {
		mu.Lock()
		defer mu.Unlock()
		return acked
	}
	kills := 1
	if os.Getenv("GOQUEUE_CLUSTER_LONG") != "" {
		kills = 2
	}
	alive := []uint64{1, 2, 3}
	victim := coord
	for k := range kills {
		if k > 0 {
			publish()
		}
		at := parts * (perPart - perRound/2)
		c.eventually(60*time.Second, fmt.Sprintf("%d messages acknowledged before kill %d", at, k+1), func() bool { return progress() >= at })
		mu.Lock()
		killed, again = time.Now(), time.Time{}
		c.procs[victim].Kill()
		mu.Unlock()
		alive = slices.DeleteFunc(alive, func(id uint64) bool { return id == victim })
		c.eventually(60*time.Second, "the group acknowledging again after its coordinator's SIGKILL", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return !again.IsZero()
		})
		mu.Lock()
		took := again.Sub(killed)
		mu.Unlock()
		var next uint64
		c.eventually(30*time.Second, "the survivors naming a new coordinator", func() bool {
			next = c.coordinatorOf(alive[0], group)
			return next != 0 && next != victim
		})
		t.Logf("coordinator killed -> group consuming again: %v (node %d killed, node %d coordinates now)", took.Round(time.Millisecond), victim, next)
		if k+1 < kills {
			// A second kill needs a majority of the shard alive: the
			// first victim restarts, catches up and, the shard's preferred
			// replica, gets the group back (a graceful handover), and is
			// killed again.
			c.restart(victim)
			alive = append(alive, victim)
			c.awaitCoordinator(victim, group, alive...)
		}
	}
	total := parts * perPart
	c.eventually(90*time.Second, "every message consumed and acknowledged", func() bool {
		led.mu.Lock()
		n := len(led.msgs)
		led.mu.Unlock()
		var off api.OffsetsResponse
		at := c.coordinatorOf(alive[0], group)
		if n < total || at == 0 || c.do(at, "GET", "/groups/"+group+"/offsets", "", &off) != http.StatusOK {
			return false
		}
		for p := range parts {
			if off.Offsets[topic][int32(p)] != int64(perPart) {
				return false
			}
		}
		return true
	})
	cancel()
	wg.Wait()
	problems, redelivered := led.check(parts, perPart)
	mu.Lock()
	t.Logf("%d messages, %d acknowledged in commits, %d delivered more than once (in flight at a kill); last ack %s",
		total, acked, redelivered, lastAck.Format("15:04:05.000"))
	mu.Unlock()
	for i, pr := range problems {
		if i == 20 {
			t.Errorf("... and %d more", len(problems)-20)
			break
		}
		t.Error(pr)
	}
}
