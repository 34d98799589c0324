package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestRefusedSettleIsNotResent: a nack the broker refuses with an error it
// says no retry will change is sent once, not again at every flush. Queued
// again, it went out with every later Ack's flush, and client and broker
// spun on the same refusal (seen in a bench run as the broker writing
// nack errors for seconds).
func TestRefusedSettleIsNotResent(t *testing.T) {
	srv := brokertest.Start(t)
	admin, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const topic, n = "refused", 200
	if _, err := admin.CreateTopic(ctx, api.CreateTopicRequest{Name: topic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	produce(t, srv.URL, topic, n)
	var nacks atomic.Int32
	proxy := frontProxy(t, srv.URL, func(r *http.Request, _ []byte) {})
	forward := proxy.Config.Handler
	proxy.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/nack") {
			forward.ServeHTTP(w, r)
			return
		}
		nacks.Add(1)
		e := api.ErrInvalidArgument.Withf("refused by the test")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.Status)
		json.NewEncoder(w).Encode(map[string]any{"error": e})
	})
	c := newPollingConsumer(t, client.ConsumerConfig{Brokers: []string{proxy.URL}, GroupID: "g", Topics: []string{topic}, MaxInFlight: n})
	seen := 0
	for seen < n {
		msgs, err := c.Poll(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if seen == 0 {
				if err := c.Nack(m); err != nil {
					t.Fatal(err)
				}
			} else if err := c.Ack(m); err != nil {
				t.Fatal(err)
			}
			seen++
			if seen%20 == 0 {
				_ = c.Commit() // a flush, as the background loop makes
			}
		}
	}
	_ = c.Commit()
	if got := nacks.Load(); got != 1 {
		t.Errorf("the refused nack was sent %d times; want once", got)
	}
}

// TestLongSettleRefusalIsUnderstood: a nack whose messages all moved on is
// refused with the first failure's code and, in its details, the messages
// that failed: for thousands of messages an answer of megabytes from a
// broker that lists every one (today's lists api.MaxListedFailures; the
// proxy pads its answer as an older one's was). The client read only its
// first MiB, could not decode the cut envelope, and took the refusal for
// BAD_REQUEST: not the harmless MESSAGE_NOT_IN_FLIGHT it drops, but an
// error Commit returned (and Poll, at every call, in a bench whose consumer
// stopped polling for it), and for a hand-back a resend as a plain nack.
// The settled refs are made to have moved on by a proxy that acknowledges
// a nack's messages just before forwarding it, and holds the nacks until
// all are queued, so that at most two requests carry them.
func TestLongSettleRefusalIsUnderstood(t *testing.T) {
	srv := brokertest.Start(t)
	admin, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const topic, n = "long-refusal", 20000
	if _, err := admin.CreateTopic(ctx, api.CreateTopicRequest{Name: topic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	produce(t, srv.URL, topic, n)
	var answered atomic.Int64 // bytes of the longest nack answer
	queued := make(chan struct{})
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/nack") {
			rp.ServeHTTP(w, r)
			return
		}
		<-queued
		body, _ := io.ReadAll(r.Body)
		ack := strings.TrimSuffix(r.URL.Path, "/nack") + "/ack"
		// The same messages, acknowledged: the nack's body without the
		// fields /ack refuses.
		var req api.AckRequest
		if err := json.Unmarshal(body, &req); err != nil {
			t.Error(err)
		}
		ackBody, _ := json.Marshal(api.AckRequest{MemberID: req.MemberID, Generation: req.Generation, Messages: req.Messages, Ranges: req.Ranges})
		resp, err := http.Post(srv.URL+ack, "application/json", bytes.NewReader(ackBody))
		if err != nil {
			t.Error(err)
		} else {
			resp.Body.Close()
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		answer := rec.Body.Bytes()
		var eb struct {
			Error map[string]any `json:"error"`
		}
		if rec.Code != http.StatusOK && json.Unmarshal(answer, &eb) == nil && eb.Error != nil {
			details, _ := eb.Error["details"].(map[string]any)
			if details == nil {
				details = map[string]any{}
			}
			details["zz_listed"] = strings.Repeat("m", 1<<20) // after the code, as a long list was
			eb.Error["details"] = details
			answer, _ = json.Marshal(eb)
		}
		maps.Copy(w.Header(), rec.Header())
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		w.Write(answer)
		if n := int64(len(answer)); n > answered.Load() {
			answered.Store(n) // nack requests go one at a time
		}
	}))
	defer proxy.Close()
	release := sync.OnceFunc(func() { close(queued) })
	defer release() // before proxy.Close, which waits for held nacks
	c := newPollingConsumer(t, client.ConsumerConfig{Brokers: []string{proxy.URL}, GroupID: "g", Topics: []string{topic}, MaxInFlight: n, SerialPolls: true})
	var held []*client.Message
	for len(held) < n {
		msgs, err := c.Poll(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, msgs...)
	}
	for _, m := range held {
		if err := c.Nack(m); err != nil {
			t.Fatal(err)
		}
	}
	release()
	err = c.Commit()
	if got := answered.Load(); got <= 1<<20 {
		t.Fatalf("the nack's refusal was %d bytes; the test needs one over 1 MiB", got)
	}
	if err != nil {
		msg := err.Error()
		t.Errorf("Commit after a nack of messages that had moved on: %.300s...; want nil (MESSAGE_NOT_IN_FLIGHT is dropped)", msg)
	}
}
