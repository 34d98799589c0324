package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

// TestTransportDoesNotResendAPartlyWrittenPublish: UNAVAILABLE naming
// written_partitions (a publish of several partitions that some of them
// took) is not sent again, which would store those partitions' records
// twice; a plain UNAVAILABLE is.
func TestTransportDoesNotResendAPartlyWrittenPublish(t *testing.T) {
	for _, tt := range []struct {
		name  string
		err   *api.Error
		tries int32
	}{
		{"partly written", api.ErrUnavailable.Withf("partitions [2] took their messages").WithDetail("written_partitions", []int32{2}), 1},
		{"nothing written", api.ErrUnavailable.Withf("no leader yet"), maxAttempts},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var tries atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				tries.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: tt.err})
			}))
			defer srv.Close()
			tr, err := newTransport([]string{srv.URL}, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			err = tr.doAt(context.Background(), srv.URL, http.MethodPost, "/topics/t/batches", api.BatchesContentType, []byte("x"), nil)
			if !errors.Is(err, api.ErrUnavailable) {
				t.Fatalf("got %v, want UNAVAILABLE", err)
			}
			if got := tries.Load(); got != tt.tries {
				t.Fatalf("sent %d times, want %d", got, tt.tries)
			}
		})
	}
}
