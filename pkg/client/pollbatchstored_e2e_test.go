package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/pkg/client"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// publishBatch stores n records with values "<prefix>-<i>" on partition p
// of topic as one batch compressed with c: through the binary publish
// endpoint if uncompressed, else as the Kafka front end stores a
// producer's batch.
func publishBatch(t *testing.T, srv *brokertest.Server, topic string, p int32, prefix string, n int, c recordbatch.Codec) {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{TimestampDelta: int64(i), Value: fmt.Appendf(nil, "%s-%d", prefix, i),
			Headers: []recordbatch.RecordHeader{{Key: "i", Value: fmt.Appendf(nil, "%d", i)}}}
	}
	h := recordbatch.NewHeader(0)
	h.FirstTimestamp = 1_700_000_000_000
	batch, err := recordbatch.Build(nil, h, c, recs)
	if err != nil {
		t.Fatal(err)
	}
	if c != recordbatch.None {
		// The HTTP endpoint takes uncompressed batches only; the Kafka
		// front end stores what a producer sent through AppendBatch.
		if _, err := srv.Broker().AppendBatch(topic, p, batch); err != nil {
			t.Fatalf("append %s batch: %v", c, err)
		}
		return
	}
	resp, err := http.Post(srv.URL+"/topics/"+topic+"/batches", api.BatchesContentType, bytes.NewReader(api.AppendFrame(nil, p, batch)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("publish batch: %s %s", resp.Status, body)
	}
}

// A message nacked in the middle of a large stored batch comes back alone:
// exactly it, with delivery_count 2, in an answer that carries that record
// and not its batch; nothing else is delivered twice.
func TestStoredPollRedeliversOneOffsetOfABatch(t *testing.T) {
	srv := brokertest.Start(t)
	admin, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := admin.CreateTopic(ctx, api.CreateTopicRequest{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	const n, nacked = 2000, 1234
	publishBatch(t, srv, "t", 0, "m", n, recordbatch.None)
	proxy := newPollProxy(t, srv.URL, "")
	c := newPollingConsumer(t, client.ConsumerConfig{Brokers: []string{proxy.URL}, GroupID: "g", Topics: []string{"t"}})
	seen := make(map[int64][]int) // offset → delivery counts
	poll := func(ctx context.Context) []*client.Message {
		t.Helper()
		msgs, err := c.Poll(ctx, n)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		for _, m := range msgs {
			seen[m.Offset] = append(seen[m.Offset], m.DeliveryCount)
			if want := fmt.Sprintf("m-%d", m.Offset); string(m.Value) != want || m.Headers["i"] != fmt.Sprint(m.Offset) {
				t.Fatalf("offset %d: value %q headers %v", m.Offset, m.Value, m.Headers)
			}
		}
		return msgs
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for len(seen) < n {
		for _, m := range poll(tctx) {
			settle := c.Ack
			if m.Offset == nacked {
				settle = func(m *client.Message) error {
					return c.NackWith(m, client.NackOptions{Requeue: true, Delay: time.Millisecond})
				}
			}
			if err := settle(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	proxy.mu.Lock()
	before := len(proxy.sizes)
	proxy.mu.Unlock()
	var again []*client.Message
	for len(again) == 0 {
		again = poll(tctx)
	}
	if len(again) != 1 || again[0].Offset != nacked || again[0].DeliveryCount != 2 {
		t.Fatalf("after the nack the poll gave %d messages, first %d with count %d; want only %d, count 2", len(again), again[0].Offset, again[0].DeliveryCount, nacked)
	}
	if err := c.Ack(again[0]); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if more := poll(short); len(more) != 0 {
		t.Fatalf("after the redelivery the poll gave %d more, from offset %d", len(more), more[0].Offset)
	}
	for off, counts := range seen {
		if want := []int{1}; off == nacked && !cmp.Equal(counts, []int{1, 2}) || off != nacked && !cmp.Equal(counts, want) {
			t.Fatalf("offset %d delivered with counts %v", off, counts)
		}
	}
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	if proxy.types[api.PollStoredContentType] == 0 || len(proxy.types) != 1 {
		t.Fatalf("poll answers %v; want stored batches only", proxy.types)
	}
	largest := 0
	for _, sz := range proxy.sizes[before:] {
		largest = max(largest, sz)
	}
	if largest > 512 {
		t.Fatalf("the redelivery's answer has %d bytes: more than its one record of a %d-record batch", largest, n)
	}
}

// A topic of compressed stored batches (gzip, snappy, lz4, zstd, as Kafka
// producers send them) is consumed by a group through stored-batch polls,
// the client decompressing: the same messages as through JSON.
func TestStoredPollCompressedTopic(t *testing.T) {
	srv := brokertest.Start(t)
	admin, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateTopic(context.Background(), api.CreateTopicRequest{Name: "z", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, c := range []recordbatch.Codec{recordbatch.Snappy, recordbatch.Gzip, recordbatch.LZ4, recordbatch.Zstd, recordbatch.None} {
		n := 300 + 50*i
		publishBatch(t, srv, "z", 0, c.String(), n, c)
		total += n
	}
	stored := newPollProxy(t, srv.URL, "")
	jsonOnly := newPollProxy(t, srv.URL, "application/json")
	viaStored := consumeAll(t, stored.URL, "stored", "z", total)
	viaJSON := consumeAll(t, jsonOnly.URL, "json", "z", total)
	if seen := stored.seen(); seen[api.PollStoredContentType] == 0 || len(seen) != 1 {
		t.Fatalf("poll answers %v; want stored batches only", seen)
	}
	if len(viaStored) != total {
		t.Fatalf("%d messages, want %d", len(viaStored), total)
	}
	if diff := cmp.Diff(viaJSON, viaStored, cmpopts.IgnoreUnexported(client.Message{})); diff != "" {
		t.Fatalf("stored-batch poll differs from JSON poll (-json +stored):\n%s", diff)
	}
}
