package httpapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// BenchmarkGroupConsumeLarge is the HTTP poll+ack loop with large polls: one
// member of 6 partitions polls max_messages 100-byte messages and acks all
// of them in one request, under each fsync policy, naming each message or
// (ranges) the runs of offsets. ns/op is per message.
func BenchmarkGroupConsumeLarge(b *testing.B) {
	for _, fsync := range []string{broker.FsyncInterval, broker.FsyncAlways} {
		for _, size := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("fsync=%s/poll=%d", fsync, size), func(b *testing.B) { consumeLarge(b, fsync, size, false) })
			b.Run(fmt.Sprintf("fsync=%s/poll=%d/ranges", fsync, size), func(b *testing.B) { consumeLarge(b, fsync, size, true) })
			b.Run(fmt.Sprintf("fsync=%s/poll=%d/binary", fsync, size), func(b *testing.B) {
				consumeBinary(b, fsync, size, api.PollBatchesContentType, decodePollBatches)
			})
			b.Run(fmt.Sprintf("fsync=%s/poll=%d/stored", fsync, size), func(b *testing.B) {
				consumeBinary(b, fsync, size, api.PollStoredContentType, decodePollStored)
			})
		}
	}
}

func consumeLarge(b *testing.B, fsync string, size int, ranges bool) {
	s := brokertest.Start(b, brokertest.WithConfig(func(c *broker.Config) { c.Fsync = fsync }))
	c := benchClient{b, s}
	c.post("/topics", api.CreateTopicRequest{Name: "orders", Partitions: 6}, nil)
	c.fill("orders", b.N)
	var j api.JoinResponse
	c.post("/groups/g/join", api.JoinRequest{Topics: []string{"orders"}, MaxInFlight: size}, &j)
	b.SetBytes(100)
	b.ReportAllocs()
	b.ResetTimer()
	for got := 0; got < b.N; {
		var p api.PollResponse
		c.post("/groups/g/poll", api.PollRequest{MemberID: j.MemberID, Generation: j.Generation, MaxMessages: size}, &p)
		got += len(p.Messages)
		req := api.AckRequest{MemberID: j.MemberID, Generation: j.Generation}
		if ranges {
			req.Ranges = rangesOf(p.Messages)
		} else {
			req.Messages = refsOf(p.Messages)
		}
		c.post("/groups/g/ack", req, nil)
	}
}

// rangesOf names msgs as runs of consecutive offsets per partition.
func rangesOf(msgs []api.Message) []api.OffsetRange {
	var out []api.OffsetRange
	for _, m := range msgs {
		if n := len(out); n > 0 && out[n-1].Topic == m.Topic && out[n-1].Partition == m.Partition && out[n-1].To == m.Offset {
			out[n-1].To++
			continue
		}
		out = append(out, api.OffsetRange{Topic: m.Topic, Partition: m.Partition, From: m.Offset, To: m.Offset + 1})
	}
	return out
}

// consumeBinary is consumeLarge with binary poll answers of contentType
// (decoded as a client would, every record) acknowledged as ranges.
func consumeBinary(b *testing.B, fsync string, size int, contentType string, decode func([]byte) ([]binMessage, error)) {
	s := brokertest.Start(b, brokertest.WithConfig(func(c *broker.Config) { c.Fsync = fsync }))
	c := benchClient{b, s}
	c.post("/topics", api.CreateTopicRequest{Name: "orders", Partitions: 6}, nil)
	c.fill("orders", b.N)
	var j api.JoinResponse
	c.post("/groups/g/join", api.JoinRequest{Topics: []string{"orders"}, MaxInFlight: size}, &j)
	pollBody := []byte(fmt.Sprintf(`{"member_id":%q,"generation":%d,"max_messages":%d}`, j.MemberID, j.Generation, size))
	var buf bytes.Buffer
	b.SetBytes(100)
	b.ReportAllocs()
	b.ResetTimer()
	for got := 0; got < b.N; {
		req, _ := http.NewRequest("POST", s.URL+"/groups/g/poll", bytes.NewReader(pollBody))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", contentType)
		resp, err := s.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		buf.ReadFrom(resp.Body)
		resp.Body.Close()
		msgs, err := decode(buf.Bytes())
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("poll: %d %v", resp.StatusCode, err)
		}
		got += len(msgs)
		var ranges []api.OffsetRange
		for _, m := range msgs {
			if n := len(ranges); n > 0 && ranges[n-1].Partition == m.partition && ranges[n-1].To == m.offset {
				ranges[n-1].To++
				continue
			}
			ranges = append(ranges, api.OffsetRange{Topic: m.topic, Partition: m.partition, From: m.offset, To: m.offset + 1})
		}
		c.post("/groups/g/ack", api.AckRequest{MemberID: j.MemberID, Generation: j.Generation, Ranges: ranges}, nil)
	}
}
