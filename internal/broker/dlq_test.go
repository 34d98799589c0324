package broker

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// dlqFixture opens a broker with topic req holding value, and a member "a"
// of group "g" that has it in flight.
func dlqFixture(t *testing.T, req TopicSpec, value []byte) (*Broker, JoinResult) {
	t.Helper()
	b := mustOpen(t, testConfig(t))
	t.Cleanup(func() { b.Close() })
	if _, err := b.CreateTopic(req); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(req.Name, []Message{{Key: []byte("k"), Value: value}}); err != nil {
		t.Fatal(err)
	}
	j, err := b.JoinGroup("g", JoinParams{MemberID: "a", Topics: []string{req.Name}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	if ds, err := b.Poll(context.Background(), "g", PollParams{MemberID: "a", Generation: j.Generation}, "h"); err != nil || len(ds) != 1 {
		t.Fatalf("poll: %d, %v", len(ds), err)
	}
	return b, j
}

// reject nacks the message without requeue: it goes to the DLQ.
func reject(t *testing.T, b *Broker, j JoinResult, topic, reason string) {
	t.Helper()
	if _, err := b.Nack("g", NackParams{Reject: true, Reason: reason, Settle: Settle{MemberID: "a", Generation: j.Generation,
		Messages: []MessageRef{{Topic: topic, Partition: 0, Offset: 0}}}}, "h"); err != nil {
		t.Fatalf("nack: %v", err)
	}
}

func deadLetter(t *testing.T, b *Broker, dlq string) commitlog.Record {
	t.Helper()
	res, err := b.Fetch(context.Background(), dlq, FetchRequest{Partition: 0, Offset: 0, MaxMessages: 1, MaxBytes: 1})
	if err != nil || len(res.Records) != 1 {
		t.Fatalf("fetch %s: %d records, %v", dlq, len(res.Records), err)
	}
	return res.Records[0]
}

func header(r commitlog.Record, key string) []byte {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

// The DLQ takes its source topic's settings: a message as large as the
// source allows still fits with its disposition headers, and the DLQ keeps
// the source's durability and retention.
func TestDLQInheritsSourceSettings(t *testing.T) {
	src := TopicSpec{Name: "big", Partitions: 1, MaxMessageBytes: 2 << 20, Fsync: "always", Retention: time.Duration(5) * time.Hour, RetentionBytes: 64 << 20}
	value := bytes.Repeat([]byte("v"), 2<<20-1)
	b, j := dlqFixture(t, src, value)
	reject(t, b, j, "big", "bad")
	info, err := b.Topic(api.DLQName("big"))
	if err != nil {
		t.Fatal(err)
	}
	c := info.Config
	if c.MaxMessageBytes < src.MaxMessageBytes || c.Fsync != src.Fsync || retention(c.RetentionHours) != src.Retention || c.RetentionBytes != src.RetentionBytes {
		t.Errorf("DLQ config %+v, want the settings of %+v", c, src)
	}
	if r := deadLetter(t, b, api.DLQName("big")); !bytes.Equal(r.Value, value) {
		t.Errorf("dead letter of %d bytes, want %d", len(r.Value), len(value))
	}
}

// A nack reason of any size dead-letters the message: the last-error header
// keeps the first DLQMaxReasonBytes of it.
func TestDLQReasonTruncated(t *testing.T) {
	b, j := dlqFixture(t, TopicSpec{Name: "orders", Partitions: 1}, []byte("x"))
	reason := strings.Repeat("é", 600_000) // 1.2 MB, two bytes a rune
	reject(t, b, j, "orders", reason)
	got := header(deadLetter(t, b, "orders.dlq"), api.DLQHeaderLastError)
	if len(got) > api.DLQMaxReasonBytes || len(got) < api.DLQMaxReasonBytes-4 || !strings.HasPrefix(reason, string(got)) {
		t.Errorf("last-error header of %d bytes, want a prefix of at most %d", len(got), api.DLQMaxReasonBytes)
	}
}

// The DLQ of a topic whose name leaves no room for ".dlq" is named within
// the 249-character limit, deterministically and distinctly; dead letters
// reach it and replay finds it.
func TestDLQNameOfLongTopic(t *testing.T) {
	long := strings.Repeat("t", 247)
	other := strings.Repeat("t", 246) + "u"
	for _, n := range []string{long, other, strings.Repeat("t", 245), "orders"} {
		d := api.DLQName(n)
		if err := ValidateTopicName(d); err != nil || !strings.HasSuffix(d, api.DLQSuffix) || d != api.DLQName(n) {
			t.Errorf("DLQName(%d chars) = %q: %v", len(n), d, err)
		}
	}
	if api.DLQName("orders") != "orders.dlq" || api.DLQName(long) == api.DLQName(other) {
		t.Errorf("DLQName: orders → %q; two long names → %q and %q", api.DLQName("orders"), api.DLQName(long), api.DLQName(other))
	}
	b, j := dlqFixture(t, TopicSpec{Name: long, Partitions: 1}, []byte("x"))
	reject(t, b, j, long, "bad")
	if r := deadLetter(t, b, api.DLQName(long)); string(header(r, api.DLQHeaderOriginalTopic)) != long {
		t.Errorf("dead letter's original topic %q", header(r, api.DLQHeaderOriginalTopic))
	}
	if res, err := b.ReplayDLQ(long, ReplayParams{}); err != nil || res.Replayed != 1 {
		t.Errorf("replay: %+v, %v", res, err)
	}
}

// A dead letter its DLQ refuses (here a DLQ created beforehand that allows
// 10-byte messages) does not fail the client's nack: the message is settled
// as a pending dead letter, not delivered again, and retried later.
func TestUnwritableDeadLetterDoesNotFailNack(t *testing.T) {
	b, j := dlqFixture(t, TopicSpec{Name: "orders", Partitions: 1}, bytes.Repeat([]byte("x"), 100))
	if _, err := b.CreateTopic(TopicSpec{Name: "orders.dlq", Partitions: 1, MaxMessageBytes: 10}); err != nil {
		t.Fatal(err)
	}
	reject(t, b, j, "orders", "bad")
	if ds, err := b.Poll(context.Background(), "g", PollParams{MemberID: "a", Generation: j.Generation}, "h"); err != nil || len(ds) != 0 {
		t.Fatalf("poll after the nack: %d, %v; want nothing", len(ds), err)
	}
}

// A pending dead letter is retried by the timer loop: once the DLQ that
// refused it is gone, the retry creates a fitting one and writes it.
func TestPendingDeadLetterIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, stop := runBroker(t, testConfig(t))
		defer stop()
		if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.CreateTopic(TopicSpec{Name: "orders.dlq", Partitions: 1, MaxMessageBytes: 10}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish("orders", []Message{{Value: bytes.Repeat([]byte("x"), 100)}}); err != nil {
			t.Fatal(err)
		}
		j, err := b.JoinGroup("g", JoinParams{MemberID: "a", Topics: []string{"orders"}}, "h")
		if err != nil {
			t.Fatal(err)
		}
		if ds, err := b.Poll(context.Background(), "g", PollParams{MemberID: "a", Generation: j.Generation}, "h"); err != nil || len(ds) != 1 {
			t.Fatalf("poll: %d, %v", len(ds), err)
		}
		reject(t, b, j, "orders", "bad")
		if err := b.DeleteTopic("orders.dlq"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second) // past the first retries' backoff
		synctest.Wait()
		if r := deadLetter(t, b, "orders.dlq"); len(r.Value) != 100 {
			t.Errorf("retried dead letter of %d bytes", len(r.Value))
		}
	})
}
