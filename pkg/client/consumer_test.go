package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// produce publishes n messages "m0".."m{n-1}" with keys spread over
// partitions.
func produce(t *testing.T, url, topic string, n int) {
	t.Helper()
	p := newProducer(t, url, client.ProducerConfig{Linger: time.Millisecond})
	ctx := context.Background()
	var (
		mu    sync.Mutex
		first error
	)
	for i := range n {
		p.PublishAsync(ctx, topic, &client.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("m%d", i))}, func(_ client.Position, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if first != nil {
		t.Fatal(first)
	}
}

// newConsumer starts a consumer as configured, on the stream (the
// default); GOQUEUE_CLIENT_STREAM=0 runs the consumer tests polling over
// HTTP instead (ConsumerConfig.NoStream).
func newConsumer(t *testing.T, cfg client.ConsumerConfig) *client.Consumer {
	t.Helper()
	if os.Getenv("GOQUEUE_CLIENT_STREAM") == "0" {
		cfg.NoStream = true
	}
	return startConsumer(t, cfg)
}

// TestConsumersPolling runs this package's tests again in a process of
// their own with GOQUEUE_CLIENT_STREAM=0, so the consumers that poll over
// HTTP — the transport of a broker without the stream, of SerialPolls and
// of a stream being dialled again — stay tested in every run, as the
// default (the stream) is.
func TestConsumersPolling(t *testing.T) {
	if os.Getenv("GOQUEUE_CLIENT_STREAM") != "" {
		t.Skip("GOQUEUE_CLIENT_STREAM chooses the transport of this run")
	}
	if testing.Short() {
		t.Skip("runs the package's tests again")
	}
	cmd := exec.Command(os.Args[0], "-test.count=1", "-test.timeout=10m", "-test.skip=^TestConsumersPolling$")
	cmd.Env = append(os.Environ(), "GOQUEUE_CLIENT_STREAM=0")
	out, err := cmd.CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("no tests to run")) {
		t.Fatalf("the tests with consumers polling: %v\n%s", err, out)
	}
}

// newPollingConsumer is newConsumer polling over HTTP, for the tests that
// read the HTTP polls and settles.
func newPollingConsumer(t *testing.T, cfg client.ConsumerConfig) *client.Consumer {
	t.Helper()
	cfg.NoStream = true
	return startConsumer(t, cfg)
}

func startConsumer(t *testing.T, cfg client.ConsumerConfig) *client.Consumer {
	t.Helper()
	if cfg.PollWait == 0 {
		cfg.PollWait = 100 * time.Millisecond
	}
	c, err := client.NewConsumer(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitLag polls the group description until its lag is zero.
func waitLag(t *testing.T, c *client.Client, group string) *api.GroupDescription {
	t.Helper()
	var g *api.GroupDescription
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		var err error
		g, err = c.Group(context.Background(), group)
		if err == nil && g.Lag == 0 {
			return nil
		}
		return fmt.Errorf("group %s: lag never reached 0: %+v, %v", group, g, err)
	})
	return g
}

func TestConsumerReadsEverythingAndCommits(t *testing.T) {
	srv, admin := setup(t, "orders", 3)
	const n = 3000
	produce(t, srv.URL, "orders", n)
	var assigned api.Assignment
	cons := newConsumer(t, client.ConsumerConfig{
		Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"},
		OnAssigned: func(a api.Assignment) { assigned = a },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seen := make(map[string]bool)
	for len(seen) < n {
		msgs, err := cons.Poll(ctx, 500)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(seen), err)
		}
		for _, m := range msgs {
			seen[string(m.Value)] = true
			if err := cons.Ack(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := assigned["orders"]; len(got) != 3 {
		t.Fatalf("OnAssigned saw %v", assigned)
	}
	if err := cons.CommitContext(ctx); err != nil {
		t.Fatal(err)
	}
	g := waitLag(t, admin, "g")
	if len(g.Members) != 1 {
		t.Fatalf("members %+v", g.Members)
	}
	if err := cons.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := admin.Group(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Members) != 0 || g.State != api.GroupStateEmpty {
		t.Fatalf("after Close: state %s, members %+v", g.State, g.Members)
	}
	// A new member of the group starts at the committed offsets: nothing left.
	again := newConsumer(t, client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}})
	msgs, err := again.Poll(ctx, 100)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("after commit, a new member got %d messages, %v", len(msgs), err)
	}
}

// Poll with a context past its deadline fails with the context's error on
// either transport. On the stream it answered no messages and no error,
// so a loop polling until Poll fails (a shutdown by context) never ended.
func TestPollEndsWithItsContext(t *testing.T) {
	srv, _ := setup(t, "orders", 3)
	cons := newConsumer(t, client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"},
		PollWait: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cons.Poll(ctx, 10); err != nil { // joined
		t.Fatal(err)
	}
	past, cancelPast := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelPast()
	for range 3 {
		if msgs, err := cons.Poll(past, 10); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Poll past its deadline: %d messages, %v", len(msgs), err)
		}
	}
}
