package httpapi_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// TestDecodingBudgetRefusesWith429: while one slow request holds nearly the
// whole budget of body bytes, another is refused with a retriable 429 and
// Retry-After; once the first ends, the budget is free again.
func TestDecodingBudgetRefusesWith429(t *testing.T) {
	const budget = 1 << 20
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.MaxBodyBytes, o.MaxDecodingBytes = budget, budget
	}))
	createTopic(t, s, "orders", 1)

	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() }) // before the broker's shutdown waits for the request
	slow := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", s.URL+"/topics/orders/batches", pr)
		req.Header.Set("Content-Type", api.BatchesContentType)
		resp, err := s.Client().Do(req)
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	// The client's transport may keep the last few KiB of what it read from
	// the pipe in its write buffer; the second body is larger than that.
	if _, err := pw.Write(bytes.Repeat([]byte{0}, budget-1024)); err != nil {
		t.Fatal(err)
	}
	small := `{"value":"` + strings.Repeat("x", 128<<10) + `"}`
	send := func() *http.Response {
		resp, err := s.Client().Post(s.URL+"/topics/orders/messages", "application/json", strings.NewReader(small))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// The slow body's bytes reach the handler through socket buffers: wait
	// until they have (generously: the machine may be busy).
	var refused *http.Response
	for deadline := time.Now().Add(60 * time.Second); refused == nil && time.Now().Before(deadline); {
		resp := send()
		if resp.StatusCode == http.StatusTooManyRequests {
			refused = resp
			break
		}
		resp.Body.Close()
		time.Sleep(5 * time.Millisecond)
	}
	if refused == nil {
		t.Fatal("no request was refused while the budget was held")
	}
	raw, _ := io.ReadAll(refused.Body)
	refused.Body.Close()
	if e := wantError(t, refused.StatusCode, raw, api.ErrTooManyRequests); !e.Retriable {
		t.Fatal("the refusal is not retriable")
	}
	if refused.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	pw.CloseWithError(io.ErrUnexpectedEOF) // the slow client gives up
	<-slow
	for deadline := time.Now().Add(60 * time.Second); ; {
		resp := send()
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("budget not released: %d", resp.StatusCode)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
