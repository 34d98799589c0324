package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// benchClient posts JSON through the server's client without the test
// helpers' per-call checks.
type benchClient struct {
	b *testing.B
	s *brokertest.Server
}

func (c benchClient) post(path string, body, out any) {
	j, _ := json.Marshal(body)
	resp, err := c.s.Client().Post(c.s.URL+path, "application/json", bytes.NewReader(j))
	if err != nil {
		c.b.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		c.b.Fatalf("%s: %d %s", path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.b.Fatal(err)
		}
	}
}

// fill publishes n 100-byte messages spread over the topic's partitions.
func (c benchClient) fill(topic string, n int) {
	value := strings.Repeat("x", 100)
	for n > 0 {
		k := min(n, 1000)
		var sb strings.Builder
		sb.WriteString(`{"messages":[`)
		for i := range k {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"value":%q}`, value)
		}
		sb.WriteString(`]}`)
		c.post("/topics/"+topic+"/messages", json.RawMessage(sb.String()), nil)
		n -= k
	}
}

func refsOf(msgs []api.Message) []api.MessageRef {
	out := make([]api.MessageRef, len(msgs))
	for i, m := range msgs {
		out[i] = api.MessageRef{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	}
	return out
}

// BenchmarkGroupConsume consumes 100-byte messages from 6 partitions with
// one member through HTTP, polling 100 at a time: ack-each sends one ack
// request per message, batch-ack one per poll.
func BenchmarkGroupConsume(b *testing.B) {
	for _, batched := range []bool{false, true} {
		name := "ack-each"
		if batched {
			name = "batch-ack"
		}
		b.Run(name, func(b *testing.B) {
			s := brokertest.Start(b)
			c := benchClient{b, s}
			c.post("/topics", api.CreateTopicRequest{Name: "orders", Partitions: 6}, nil)
			c.fill("orders", b.N)
			var j api.JoinResponse
			c.post("/groups/g/join", api.JoinRequest{Topics: []string{"orders"}}, &j)
			b.SetBytes(100)
			b.ReportAllocs()
			b.ResetTimer()
			for got := 0; got < b.N; {
				var p api.PollResponse
				c.post("/groups/g/poll", api.PollRequest{MemberID: j.MemberID, Generation: j.Generation, MaxMessages: 100}, &p)
				got += len(p.Messages)
				if batched {
					c.post("/groups/g/ack", api.AckRequest{MemberID: j.MemberID, Generation: j.Generation, Messages: refsOf(p.Messages)}, nil)
					continue
				}
				for _, r := range refsOf(p.Messages) {
					c.post("/groups/g/ack", api.AckRequest{MemberID: j.MemberID, Generation: j.Generation, Messages: []api.MessageRef{r}}, nil)
				}
			}
		})
	}
}

// BenchmarkPollAckLatency is one message's round trip through a group:
// poll it (already published), then ack it. ns/op is the latency.
func BenchmarkPollAckLatency(b *testing.B) {
	s := brokertest.Start(b)
	c := benchClient{b, s}
	c.post("/topics", api.CreateTopicRequest{Name: "orders", Partitions: 1}, nil)
	c.fill("orders", b.N)
	var j api.JoinResponse
	c.post("/groups/g/join", api.JoinRequest{Topics: []string{"orders"}}, &j)
	b.ResetTimer()
	for range b.N {
		var p api.PollResponse
		c.post("/groups/g/poll", api.PollRequest{MemberID: j.MemberID, Generation: j.Generation, MaxMessages: 1}, &p)
		c.post("/groups/g/ack", api.AckRequest{MemberID: j.MemberID, Generation: j.Generation, Messages: refsOf(p.Messages)}, nil)
	}
}

// BenchmarkJoinFirstAssignment is a new group's first join over HTTP, up
// to the answer carrying its assignment of 6 partitions.
func BenchmarkJoinFirstAssignment(b *testing.B) {
	s := brokertest.Start(b)
	c := benchClient{b, s}
	c.post("/topics", api.CreateTopicRequest{Name: "orders", Partitions: 6}, nil)
	b.ResetTimer()
	for i := range b.N {
		var j api.JoinResponse
		c.post(fmt.Sprintf("/groups/g%d/join", i), api.JoinRequest{Topics: []string{"orders"}}, &j)
		if len(j.AssignedPartitions["orders"]) != 6 {
			b.Fatalf("assigned %v", j.AssignedPartitions)
		}
	}
}
