package broker

import (
	"log/slog"
	"testing"
)

// benchBroker opens a broker in a temporary directory with topic "t" of 6
// partitions; it is closed when b ends.
func benchBroker(b *testing.B) *Broker {
	c := DefaultConfig()
	c.DataDir = b.TempDir()
	c.Logger = slog.New(slog.DiscardHandler)
	br, err := Open(c)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	if _, err := br.CreateTopic(TopicSpec{Name: "t", Partitions: 6}); err != nil {
		b.Fatal(err)
	}
	return br
}

// BenchmarkGroupPollAck is the broker's own cost of consuming one 100-byte
// message through a group (no HTTP): polls of 1,000 from 6 partitions, each
// acknowledged in one call (one durable offsets write per poll).
func BenchmarkGroupPollAck(b *testing.B) {
	br := benchBroker(b)
	msgs := make([]Message, 1000)
	for i := range msgs {
		msgs[i] = Message{Value: make([]byte, 100), Partition: AnyPartition}
	}
	for n := 0; n < b.N; n += len(msgs) {
		if _, err := br.Publish("t", msgs); err != nil {
			b.Fatal(err)
		}
	}
	j, err := br.JoinGroup("g", JoinParams{Topics: []string{"t"}, MaxInFlight: 10000}, "h")
	if err != nil {
		b.Fatal(err)
	}
	refs := make([]MessageRef, 0, 1000)
	b.SetBytes(100)
	b.ReportAllocs()
	b.ResetTimer()
	for got := 0; got < b.N; {
		ds, err := br.Poll(b.Context(), "g", PollParams{MemberID: j.MemberID, Generation: j.Generation, MaxMessages: 1000}, "h")
		if err != nil {
			b.Fatal(err)
		}
		refs = refs[:0]
		for _, d := range ds {
			refs = append(refs, MessageRef{Topic: d.Topic, Partition: d.Partition, Offset: d.Record.Offset})
		}
		if _, err := br.Ack("g", Settle{MemberID: j.MemberID, Generation: j.Generation, Messages: refs}, "h"); err != nil {
			b.Fatal(err)
		}
		got += len(ds)
	}
}

// BenchmarkGroupPollStored is the broker's own cost of consuming one 100-byte
// message the way the Go client does (no HTTP): binary polls of stored
// batches (PollStored) of up to 5,000 messages from 6 partitions, written
// 8,000 to a batch (about 1 MiB, as the client's producer writes them), each
// poll acknowledged as offset ranges in one call.
func BenchmarkGroupPollStored(b *testing.B) {
	br := benchBroker(b)
	msgs := make([]Message, 8000)
	for i := range msgs {
		msgs[i] = Message{Value: make([]byte, 100)}
	}
	for n := 0; n < b.N; n += len(msgs) {
		for i := range msgs {
			msgs[i].Partition = int32(n / len(msgs) % 6)
		}
		if _, err := br.Publish("t", msgs); err != nil {
			b.Fatal(err)
		}
	}
	j, err := br.JoinGroup("g", JoinParams{Topics: []string{"t"}, MaxInFlight: 10000}, "h")
	if err != nil {
		b.Fatal(err)
	}
	var ranges []OffsetRange
	b.SetBytes(100)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	defer func() { b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op") }()
	for got := 0; got < b.N; {
		parts, err := br.PollStored(b.Context(), "g", PollParams{MemberID: j.MemberID, Generation: j.Generation, MaxMessages: 5000}, "h")
		if err != nil {
			b.Fatal(err)
		}
		ranges = ranges[:0]
		for _, p := range parts {
			for _, r := range p.Ranges {
				ranges = append(ranges, OffsetRange{Topic: p.Topic, Partition: p.Partition, From: r.First, To: r.Last + 1})
				got += int(r.Last - r.First + 1)
			}
		}
		ReleaseStored(parts) // as the HTTP handler does once the answer is written
		if len(ranges) == 0 {
			b.Fatalf("poll answered nothing after %d of %d", got, b.N)
		}
		if _, err := br.Ack("g", Settle{MemberID: j.MemberID, Generation: j.Generation, Ranges: ranges}, "h"); err != nil {
			b.Fatal(err)
		}
	}
}
