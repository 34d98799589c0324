package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestProducerRefusesARecordPastTheTopicsLimit: a record larger than its
// topic's max_message_bytes went to the broker, which refused its batch
// whole: the records sent after it to its partition, in flight with it,
// failed too ("not written: an earlier batch of partition 0 failed"),
// and one larger than the broker's largest request failed as
// BODY_TOO_LARGE, which errors.Is(err, api.ErrMessageTooLarge) does not
// match. It is refused alone, before it is queued; a limit raised since
// the producer read it is read again first.
func TestProducerRefusesARecordPastTheTopicsLimit(t *testing.T) {
	for _, tt := range []struct {
		name     string
		noStream bool
	}{{"stream", false}, {"http", true}} {
		t.Run(tt.name, func(t *testing.T) {
			srv, admin := setup(t, "t", 1)
			ctx := context.Background()
			p := newProducer(t, srv.URL, client.ProducerConfig{NoStream: tt.noStream, Linger: 50 * time.Millisecond})
			if _, err := p.Publish(ctx, "t", &client.Record{Value: []byte("known")}); err != nil {
				t.Fatal(err)
			}
			sizes := []int{5, 5, 1100 << 10, 5, 5, 20 << 20, 5, 5}
			errs := make([]chan error, len(sizes))
			for i, n := range sizes {
				errs[i] = make(chan error, 1)
				p.PublishAsync(ctx, "t", &client.Record{Value: make([]byte, n)}, func(_ client.Position, err error) { errs[i] <- err })
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			stored := 0
			for i, n := range sizes {
				err := <-errs[i]
				switch {
				case n > 1<<20 && !errors.Is(err, api.ErrMessageTooLarge):
					t.Errorf("record %d of %d bytes: %v, want MESSAGE_TOO_LARGE", i, n, err)
				case n <= 1<<20 && err != nil:
					t.Errorf("record %d of %d bytes: %v", i, n, err)
				case err == nil:
					stored++
				}
			}
			if got := len(readAll(t, admin, "t")[0]); got != stored+1 {
				t.Errorf("%d records stored, want %d", got, stored+1)
			}
			// Raised since the producer read it: taken at once.
			if _, err := admin.AlterTopic(ctx, "t", api.AlterTopicRequest{MaxMessageBytes: 2 << 20}); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Publish(ctx, "t", &client.Record{Value: make([]byte, 1100<<10)}); err != nil {
				t.Fatalf("a record within the raised limit: %v", err)
			}
		})
	}
}
