package client_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// A join the broker applied whose answer did not reach the consumer in
// time (the Poll's context cancelled, the connection lost, the consumer
// closed) must not leave a member behind: nobody would consume its
// partitions until its session timed out (seen as a bench group left with
// a member after its consumers closed). The join goes on without the Poll
// that started it; a join sent again is the same member; Close leaves it.
func TestUnansweredJoinLeavesNoMember(t *testing.T) {
	type step int
	const (
		cancelPoll step = iota // the first Poll gives up
		release                // the broker's answer to the first join goes out
		drop                   // the first join's connection is closed, unanswered
		pollAgain              // a Poll must succeed
		closeIt                // Close
	)
	for _, tc := range []struct {
		name    string
		steps   []step
		members int // after the steps
	}{
		{"poll cancelled, answered later, closed", []step{cancelPoll, release, closeIt}, 0},
		{"poll cancelled, answered later, polled again", []step{cancelPoll, release, pollAgain}, 1},
		{"closed, never answered", []step{closeIt}, 0},
		{"connection lost, polled again", []step{drop, pollAgain}, 1},
		{"connection lost, closed", []step{drop, closeIt}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, admin, ctx := brokerWithTopic(t, "t", 2)
			var held atomic.Bool // the first join only
			applied, answer := make(chan struct{}), make(chan step, 1)
			proxy := frontProxy(t, srv.URL, func(*http.Request, []byte) {})
			forward := proxy.Config.Handler
			proxy.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.HasSuffix(r.URL.Path, "/join") || held.Swap(true) {
					forward.ServeHTTP(w, r)
					return
				}
				rec := httptest.NewRecorder()
				forward.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
				close(applied)
				select {
				case how := <-answer:
					if how == drop {
						conn, _, _ := w.(http.Hijacker).Hijack()
						conn.Close()
						return
					}
					maps.Copy(w.Header(), rec.Header())
					w.WriteHeader(rec.Code)
					w.Write(rec.Body.Bytes())
				case <-r.Context().Done():
				}
			})
			c := newConsumer(t, client.ConsumerConfig{Brokers: []string{proxy.URL}, GroupID: "g", Topics: []string{"t"},
				CloseTimeout: 300 * time.Millisecond})
			pollCtx, stopPoll := context.WithCancel(ctx)
			polled := make(chan error, 1)
			go func() { _, err := c.Poll(pollCtx, 1); polled <- err }()
			select {
			case <-applied:
			case <-ctx.Done():
				t.Fatal("the join never reached the broker")
			}
			waiting := true // the first Poll
			for _, s := range tc.steps {
				switch s {
				case cancelPoll:
					stopPoll()
					if err := <-polled; !errors.Is(err, context.Canceled) {
						t.Fatalf("Poll given up during its join: %v", err)
					}
					waiting = false
				case release, drop:
					answer <- s
				case pollAgain:
					_, err := c.Poll(ctx, 1)
					if err != nil { // the join it waited for lost its connection: this one sends it again
						_, err = c.Poll(ctx, 1)
					}
					if err != nil {
						t.Fatal(err)
					}
				case closeIt:
					c.Close()
					if !waiting {
						break
					}
					// Still waiting for the join when the first step
					// was Close: Close ended it.
					if err := <-polled; tc.steps[0] == closeIt && !errors.Is(err, client.ErrClosed) {
						t.Fatalf("Poll waiting for a join that Close ended: %v, want ErrClosed", err)
					}
					waiting = false
				}
			}
			stopPoll()
			g, err := admin.Group(ctx, "g")
			if tc.members == 0 && errors.Is(err, api.ErrGroupNotFound) {
				return // its last member gone, the group went with it (it has no offsets)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Members) != tc.members {
				t.Fatalf("members: %+v, want %d", g.Members, tc.members)
			}
		})
	}
}
