package httpapi_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

func TestPollLongPollWakesOnPublish(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 3)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	start := time.Now()
	if got := m.poll(10, 100*time.Millisecond); len(got) != 0 || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("empty long poll: %v after %v", refs(got), time.Since(start))
	}
	done := make(chan []api.Message)
	go func() {
		var resp api.PollResponse
		s.DoJSON("POST", "/groups/g/poll", api.PollRequest{MemberID: m.id, Generation: m.gen, MaxMessages: 10, WaitMS: 20000}, &resp)
		done <- resp.Messages
	}()
	s.WaitInFlight(1)
	publish(t, s, "orders", `{"value":"hello","partition":2}`)
	select {
	case got := <-done:
		if len(got) != 1 || string(got[0].Value) != `"hello"` || got[0].DeliveryCount != 1 {
			t.Fatalf("woke with %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll did not wake on publish")
	}
}

func TestPollRespectsLimitsAndInFlightCap(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 3)
	publishSpread(t, s, "orders", 30)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}, MaxInFlight: 12})
	got := m.poll(9, 0)
	per := map[int32]int{}
	for _, msg := range got {
		per[msg.Partition]++
	}
	if len(got) != 9 || per[0] != 3 || per[1] != 3 || per[2] != 3 {
		t.Fatalf("poll 9 of 3 partitions: %v", per)
	}
	if got := m.poll(100, 0); len(got) != 3 {
		t.Fatalf("poll past the in-flight cap of 12: got %d more", len(got))
	}
	status, raw := s.Do("POST", "/groups/g/poll", api.PollRequest{MemberID: m.id, Generation: m.gen, MaxMessages: -1})
	wantError(t, status, raw, api.ErrInvalidArgument)
}

// An ack of several messages applies the good ones and reports the bad
// ones with the first failure's code.
func TestAckPartialFailure(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	publishN(t, s, "orders", 0, 3)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	msgs := m.poll(10, 0)
	bogus := api.Message{Topic: "orders", Partition: 0, Offset: 7}
	status, resp := m.settle("ack", api.AckRequest{}, msgs[0], bogus, msgs[1])
	if status != http.StatusConflict || resp.Succeeded != 2 || len(resp.Failed) != 1 ||
		resp.Failed[0].Offset != 7 || resp.Failed[0].Error.Code != api.ErrNotInFlight.Code {
		t.Fatalf("partial ack: %d %+v", status, resp)
	}
	// A double ack is harmless, and says so.
	status, resp = m.settle("ack", api.AckRequest{}, msgs[0])
	if status != http.StatusConflict || resp.Failed[0].Error.Details["state"] != "acknowledged" {
		t.Fatalf("double ack: %d %+v", status, resp)
	}
	if got := getOffsets(t, s, "g"); got["orders"][0] != 2 {
		t.Fatalf("committed %v, want 2", got)
	}
}

func TestNackRetriesThenDeadLetters(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	publish(t, s, "orders", `{"key":"k1","value":{"id":7},"partition":1,"headers":{"trace":"abc"},"timestamp":1234}`)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}, MaxRetries: 1})
	first := m.poll(10, 0)
	if len(first) != 1 || first[0].DeliveryCount != 1 {
		t.Fatalf("first delivery %+v", first)
	}
	if status, _ := m.settle("nack", api.AckRequest{Reason: "db down"}, first...); status != http.StatusOK {
		t.Fatalf("nack: %d", status)
	}
	// Redelivered after the backoff (100 ms), with its delivery count.
	second := m.poll(10, 5*time.Second)
	if len(second) != 1 || second[0].Offset != 0 || second[0].DeliveryCount != 2 {
		t.Fatalf("redelivery %+v", second)
	}
	if status, _ := m.settle("nack", api.AckRequest{Reason: "db still down"}, second...); status != http.StatusOK {
		t.Fatalf("nack: %d", status)
	}
	dead := fetch(t, s, "orders.dlq", 1, "offset=0")
	if len(dead.Messages) != 1 {
		t.Fatalf("DLQ holds %+v", dead)
	}
	d := dead.Messages[0]
	want := map[string]string{
		"trace":                          "abc",
		"goqueue-dlq-reason":             "max_retries_exceeded",
		"goqueue-dlq-original-topic":     "orders",
		"goqueue-dlq-original-partition": "1",
		"goqueue-dlq-original-offset":    "0",
		"goqueue-dlq-original-timestamp": "1234",
		"goqueue-dlq-group":              "g",
		"goqueue-dlq-delivery-count":     "2",
		"goqueue-dlq-last-error":         "db still down",
	}
	for k, v := range want {
		if d.Headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, d.Headers[k], v)
		}
	}
	if *d.Key != "k1" || string(d.Value) != `{"id":7}` || d.Timestamp != 1234 {
		t.Fatalf("dead letter lost its key, value or timestamp: %+v", d)
	}
	if got := describeGroup(t, s, "g"); got.Partitions[1].DeadLettered != 1 || got.Partitions[1].CommittedOffset != 1 || got.Partitions[1].Redelivered != 1 {
		t.Fatalf("partition status %+v", got.Partitions[1])
	}
	if n := len(fetch(t, s, "orders.dlq", 0, "offset=0").Messages); n != 0 {
		t.Fatalf("DLQ partition 0 holds %d", n)
	}
}

func TestNackRequeueFalseAndReplay(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 3)
	publishSpread(t, s, "orders", 6)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	msgs := m.poll(10, 0)
	no := false
	if status, resp := m.settle("nack", api.AckRequest{Requeue: &no, Reason: "poison"}, msgs...); status != http.StatusOK || resp.Succeeded != 6 {
		t.Fatalf("reject: %d %+v", status, resp)
	}
	if got := m.poll(10, 300*time.Millisecond); len(got) != 0 {
		t.Fatalf("rejected messages came back: %v", refs(got))
	}
	var rep api.DLQReplayResponse
	if status := s.DoJSON("POST", "/topics/orders/dlq/replay", api.DLQReplayRequest{Max: 4}, &rep); status != http.StatusOK {
		t.Fatalf("replay: %d", status)
	}
	// Offsets 0 and 1 of the 3 DLQ partitions: 4 would split a layer, so 3.
	if rep.Replayed != 3 || rep.NextOffset != 1 {
		t.Fatalf("replay = %+v", rep)
	}
	if status := s.DoJSON("POST", "/topics/orders/dlq/replay", api.DLQReplayRequest{Offset: rep.NextOffset}, &rep); status != http.StatusOK || rep.Replayed != 3 || rep.NextOffset != 2 {
		t.Fatalf("second replay: %d %+v", status, rep)
	}
	again := m.poll(10, 0)
	if len(again) != 6 {
		t.Fatalf("replayed %d messages, want 6", len(again))
	}
	for _, msg := range again {
		if msg.DeliveryCount != 1 || msg.Offset < 2 {
			t.Fatalf("replayed message %+v", msg)
		}
		// The DLQ's headers are gone; the replay's say for whom and how often.
		want := map[string]string{api.ReplayHeaderCount: "1", api.ReplayHeaderGroup: "g"}
		if !reflect.DeepEqual(msg.Headers, want) {
			t.Fatalf("replayed message headers %v, want %v", msg.Headers, want)
		}
	}
	status, raw := s.Do("POST", "/topics/nope/dlq/replay", `{}`)
	wantError(t, status, raw, api.ErrTopicNotFound)
}

func TestVisibilityTimeoutAndExtend(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	publishN(t, s, "orders", 0, 2)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}, VisibilityTimeoutMS: 200})
	msgs := m.poll(10, 0)
	if status, _ := m.settle("extend", api.AckRequest{VisibilityTimeoutMS: 60000}, msgs[1]); status != http.StatusOK {
		t.Fatalf("extend: %d", status)
	}
	again := m.poll(10, 5*time.Second)
	if len(again) != 1 || again[0].Offset != 0 || again[0].DeliveryCount != 2 {
		t.Fatalf("after visibility timeout: %+v", again)
	}
	// The expired delivery can no longer be acked; the new one can.
	if status, _ := m.settle("ack", api.AckRequest{}, msgs[1]); status != http.StatusOK {
		t.Fatalf("ack of extended message: %d", status)
	}
	m.ack(again...)
}

// After a member stops heartbeating, the messages it held reach the new
// owner within the session timeout plus one heartbeat interval.
func TestCrashedMembersMessagesMoveWithinSessionTimeout(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	publishSpread(t, s, "orders", 20)
	const session = time.Second
	a := join(t, s, "g", api.JoinRequest{MemberID: "a", Topics: []string{"orders"}, SessionTimeoutMS: session.Milliseconds()})
	b := join(t, s, "g", api.JoinRequest{MemberID: "b", Topics: []string{"orders"}, SessionTimeoutMS: session.Milliseconds()})
	converge(t, a, b)
	held := a.poll(100, 0)
	if len(held) != 10 {
		t.Fatalf("a holds %d", len(held))
	}
	interval := time.Duration(a.heartbeat().HeartbeatIntervalMS) * time.Millisecond
	crashed := time.Now() // a's last heartbeat
	var got []api.Message
	for len(got) < 20 {
		b.heartbeat()
		got = append(got, b.poll(100, 20*time.Millisecond)...)
		if time.Since(crashed) > 10*time.Second {
			t.Fatalf("b has %d of 20 after 10 s", len(got))
		}
	}
	took := time.Since(crashed)
	if took > session+interval {
		t.Errorf("a's messages reached b %v after a stopped; want within %v", took, session+interval)
	}
	// Every delivery counts: what a held arrives as its second delivery,
	// the rest as their first.
	heldBy := make(map[api.MessageRef]bool)
	for _, m := range held {
		heldBy[api.MessageRef{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}] = true
	}
	for _, m := range got {
		want := 1
		if heldBy[api.MessageRef{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}] {
			want = 2
		}
		if m.DeliveryCount != want {
			t.Fatalf("delivery_count %d, want %d: %+v", m.DeliveryCount, want, m)
		}
	}
	t.Logf("handoff after a crash took %v (session %v, heartbeat interval %v)", took, session, interval)
}

// A cooperative revocation hands what the old owner held in flight to the
// new owner at once, not after the visibility timeout.
func TestRevokedPartitionsInFlightMoveAtOnce(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	publishSpread(t, s, "orders", 10)
	a := join(t, s, "g", api.JoinRequest{MemberID: "a", Topics: []string{"orders"}})
	held := a.poll(100, 0)
	if len(held) != 10 {
		t.Fatalf("a holds %d", len(held))
	}
	b := join(t, s, "g", api.JoinRequest{MemberID: "b", Topics: []string{"orders"}})
	converge(t, a, b)
	moved := b.owned["orders"][0]
	got := b.poll(100, 0)
	if len(got) != 5 || got[0].Partition != moved {
		t.Fatalf("b got %v after taking partition %d", refs(got), moved)
	}
	// a may no longer ack what it gave up; b may.
	status, _ := a.settle("ack", api.AckRequest{}, got[0])
	if status == http.StatusOK {
		t.Fatal("a acked a message of a partition it released")
	}
	b.ack(got...)
}

// Restart: acknowledged messages are never delivered again; what was in
// flight is.
func TestRestartRedeliversOnlyUnacked(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	publishN(t, s, "orders", 0, 10)
	a := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	msgs := a.poll(100, 0)
	a.ack(msgs[0], msgs[1], msgs[2], msgs[3], msgs[4], msgs[7])
	s.Restart()
	b := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	var offs []int64
	for _, m := range b.poll(100, 0) {
		offs = append(offs, m.Offset)
	}
	if !slices.Equal(offs, []int64{5, 6, 8, 9}) {
		t.Fatalf("after restart got offsets %v, want [5 6 8 9]", offs)
	}
}

// Consumers whose handlers ack, nack, time out or die at random: every
// message ends acknowledged exactly once or in the DLQ with its headers.
func TestRandomHandlersLoseNothing(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 4)
	const n = 200
	publishSpread(t, s, "orders", n)
	req := func(id string) api.JoinRequest {
		return api.JoinRequest{MemberID: id, Topics: []string{"orders"}, SessionTimeoutMS: 1000, MaxRetries: 2, VisibilityTimeoutMS: 150}
	}
	live := []*member{join(t, s, "g", req("c0")), join(t, s, "g", req("c1")), join(t, s, "g", req("c2"))}
	acked := map[string]bool{}
	died := 0
	testkit.EventuallyNil(t, 30*time.Second, func() error {
		if d := describeGroup(t, s, "g"); d.Lag == 0 {
			return nil
		}
		for i := 0; i < len(live); i++ {
			m := live[i]
			m.heartbeat()
			msgs := m.poll(10, 10*time.Millisecond)
			if len(msgs) > 0 && died < 2 && rng.IntN(6) == 0 {
				// The process dies holding msgs: no more heartbeats.
				died++
				live = slices.Delete(live, i, i+1)
				live = append(live, join(t, s, "g", req(fmt.Sprintf("c%d", 3+died))))
				i--
				continue
			}
			for _, msg := range msgs {
				switch r := rng.IntN(10); {
				case r < 6:
					if status, _ := m.settle("ack", api.AckRequest{}, msg); status == http.StatusOK {
						key := refs([]api.Message{msg})[0]
						if acked[key] {
							t.Fatalf("%s acknowledged twice", key)
						}
						acked[key] = true
					}
				case r < 8:
					m.settle("nack", api.AckRequest{Reason: "handler failed", DelayMS: 1}, msg)
				case r == 9:
					no := false
					m.settle("nack", api.AckRequest{Reason: "poison", Requeue: &no}, msg)
				default:
					// The handler hangs: the visibility timeout redelivers.
				}
			}
		}
		return fmt.Errorf("not done: %+v", describeGroup(t, s, "g"))
	})
	dlq := map[string]bool{}
	for p := int32(0); p < 4; p++ {
		for _, d := range fetch(t, s, "orders.dlq", p, "offset=0&max=1000").Messages {
			key := "orders/" + d.Headers["goqueue-dlq-original-partition"] + "/" + d.Headers["goqueue-dlq-original-offset"]
			h := d.Headers
			// Three failures (max_retries 2) dead-letter a message; a handoff
			// (its holder died) adds a delivery but no failure.
			count, _ := strconv.Atoi(h["goqueue-dlq-delivery-count"])
			maxed := h["goqueue-dlq-reason"] == "max_retries_exceeded" && count >= 3 &&
				(h["goqueue-dlq-last-error"] == "handler failed" || h["goqueue-dlq-last-error"] == "visibility_timeout")
			rejected := h["goqueue-dlq-reason"] == "rejected" && h["goqueue-dlq-last-error"] == "poison"
			if h["goqueue-dlq-group"] != "g" || !(maxed || rejected) || h["goqueue-dlq-original-topic"] != "orders" ||
				strconv.Itoa(int(p)) != d.Headers["goqueue-dlq-original-partition"] {
				t.Fatalf("dead letter headers %v", d.Headers)
			}
			if acked[key] || dlq[key] {
				t.Fatalf("%s settled twice (acked %v)", key, acked[key])
			}
			dlq[key] = true
		}
	}
	if len(acked)+len(dlq) != n {
		t.Fatalf("%d acked + %d dead-lettered, want %d", len(acked), len(dlq), n)
	}
	t.Logf("%d acked, %d dead-lettered, %d consumers died", len(acked), len(dlq), died)
}
