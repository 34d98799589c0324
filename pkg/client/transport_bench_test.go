package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkRequest is one small request and its answer through the
// transport, as the latency workload's publishes and polls are (a few
// messages each): what the client allocates per request.
func BenchmarkRequest(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"topic":"t","offsets":[{"partition":0,"offset":1}]}`))
	}))
	defer srv.Close()
	t, err := newTransport([]string{srv.URL}, nil, "key")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"value":"v"}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := t.doRaw(ctx, http.MethodPost, "/topics/t/messages", "application/json", body, nil); err != nil {
			b.Fatal(err)
		}
	}
}
