package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// settleRecorder forwards to a broker and keeps the bodies of ack and nack
// requests; acks riding on a poll (api.PollRequest.Acks) count as an ack
// request of their own.
type settleRecorder struct {
	mu   sync.Mutex
	reqs map[string][]api.AckRequest // by "/ack" or "/nack"; guarded by mu
}

func newSettleRecorder(t *testing.T, target string) (*settleRecorder, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rec := &settleRecorder{reqs: make(map[string][]api.AckRequest)}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		for _, op := range []string{"/ack", "/nack", "/poll"} {
			if !strings.HasSuffix(r.In.URL.Path, op) {
				continue
			}
			body, _ := io.ReadAll(r.In.Body)
			r.Out.Body = io.NopCloser(bytes.NewReader(body))
			var req api.AckRequest
			if op == "/poll" {
				var poll api.PollRequest
				if err := json.Unmarshal(body, &poll); err != nil {
					t.Errorf("%s body %q: %v", op, body, err)
				}
				if len(poll.Acks) == 0 {
					continue
				}
				op, req.Ranges = "/ack", poll.Acks
			} else if err := json.Unmarshal(body, &req); err != nil {
				t.Errorf("%s body %q: %v", op, body, err)
			}
			rec.mu.Lock()
			rec.reqs[op] = append(rec.reqs[op], req)
			rec.mu.Unlock()
		}
	}}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

// named counts the messages and ranges the requests of op named.
func (r *settleRecorder) named(op string) (messages, ranges, byRef int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, req := range r.reqs[op] {
		byRef += len(req.Messages)
		ranges += len(req.Ranges)
		for _, rg := range req.Ranges {
			messages += int(rg.To - rg.From)
		}
	}
	return messages, ranges, byRef
}

// TestSettlesSentAsRanges acks most of what three partitions deliver and
// nacks the rest: each is sent as ranges of consecutive offsets, far fewer
// than the messages, and the group ends with nothing left to consume.
func TestSettlesSentAsRanges(t *testing.T) {
	srv := brokertest.Start(t)
	admin, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const topic, n = "settle", 600
	if _, err := admin.CreateTopic(ctx, api.CreateTopicRequest{Name: topic, Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	produce(t, srv.URL, topic, n)
	rec, proxy := newSettleRecorder(t, srv.URL)
	c := newPollingConsumer(t, client.ConsumerConfig{Brokers: []string{proxy}, GroupID: "g", Topics: []string{topic}, MaxInFlight: n})
	acked, nacked := 0, 0
	for acked < n {
		msgs, err := c.Poll(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			// The first delivery of every tenth message fails once.
			if m.Offset%10 == 0 && m.DeliveryCount == 1 {
				if err := c.NackWith(m, client.NackOptions{Requeue: true, Delay: time.Millisecond}); err != nil {
					t.Fatal(err)
				}
				nacked++
				continue
			}
			if err := c.Ack(m); err != nil {
				t.Fatal(err)
			}
			acked++
		}
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	msgs, ranges, byRef := rec.named("/ack")
	t.Logf("%d acks in %d ranges, %d nacks", msgs, ranges, nacked)
	if msgs != n || byRef != 0 || ranges == 0 || ranges > n/2 {
		t.Errorf("acks: %d messages in %d ranges and %d refs; want %d in few ranges", msgs, ranges, byRef, n)
	}
	msgs, ranges, byRef = rec.named("/nack")
	if msgs != nacked || byRef != 0 || ranges != nacked {
		t.Errorf("nacks: %d messages in %d ranges and %d refs; want %d single ranges", msgs, ranges, byRef, nacked)
	}
	waitLag(t, admin, "g")
}
