package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
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
	c := newConsumer(t, client.ConsumerConfig{Brokers: []string{proxy.URL}, GroupID: "g", Topics: []string{topic}, MaxInFlight: n})
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
